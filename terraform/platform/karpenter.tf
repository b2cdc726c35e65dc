locals {
  # The newest Kubernetes minor each Karpenter minor supports (karpenter.sh, Upgrading,
  # Compatibility). Outside it Karpenter logs "karpenter version is not compatible with K8s
  # version" and runs untested against the API it launches every node through. A Karpenter minor
  # not listed here is newer than this table and is not checked. (1.31 came with 1.0.5: by minor,
  # 1.0 is held to 1.30.)
  karpenter_newest_kubernetes = {
    "1.0" = "1.30", "1.1" = "1.31", "1.2" = "1.32", "1.3" = "1.32", "1.4" = "1.32",
    "1.5" = "1.33", "1.6" = "1.34", "1.7" = "1.34", "1.8" = "1.34"
  }
  karpenter_minor = join(".", slice(split(".", var.karpenter_version), 0, 2))
  # An infra state written before the infra stage had this output: not checked until it does.
  cluster_kubernetes = try(local.infra.kubernetes_version, "1.0")
}

resource "helm_release" "karpenter" {
  name       = "karpenter"
  namespace  = "kube-system"
  repository = "oci://public.ecr.aws/karpenter"
  chart      = "karpenter"
  version    = var.karpenter_version
  wait       = true

  values = [yamlencode({
    settings = {
      clusterName = local.infra.cluster_name
      # Spot interruption warnings, rebalance recommendations and scheduled events arrive here
      # (terraform/infra/karpenter.tf); Karpenter drains the node ahead of the reclaim.
      interruptionQueue = local.infra.karpenter.queue_name
    }
    serviceAccount = {
      annotations = { "eks.amazonaws.com/role-arn" = local.infra.karpenter.controller_role_arn }
    }
    # On the managed "system" nodes, never on nodes Karpenter itself manages.
    nodeSelector = local.system_nodes
    controller = {
      resources = {
        requests = { cpu = "500m", memory = "512Mi" }
        limits   = { cpu = "1", memory = "1Gi" }
      }
    }
  })]

  # The two versions live in different stages (kubernetes_version in terraform/infra), so the
  # pair is checked here, against the cluster the infra stage made.
  lifecycle {
    precondition {
      condition = (
        tonumber(split(".", local.cluster_kubernetes)[1])
        <= tonumber(split(".", lookup(local.karpenter_newest_kubernetes, local.karpenter_minor, "1.999"))[1])
      )
      error_message = "Karpenter ${var.karpenter_version} does not support EKS ${local.cluster_kubernetes} (it supports up to ${lookup(local.karpenter_newest_kubernetes, local.karpenter_minor, "?")}): set karpenter_version to a release that does (karpenter.sh, Upgrading, Compatibility)."
    }
  }
}

resource "kubectl_manifest" "node_class" {
  depends_on = [helm_release.karpenter]
  yaml_body = yamlencode({
    apiVersion = "karpenter.k8s.aws/v1"
    kind       = "EC2NodeClass"
    metadata   = { name = "default" }
    spec = {
      role             = local.infra.karpenter.node_role_name
      amiSelectorTerms = [{ alias = var.node_ami_alias }]
      subnetSelectorTerms = [{
        tags = { "karpenter.sh/discovery" = local.infra.cluster_name }
      }]
      securityGroupSelectorTerms = [{
        tags = { "karpenter.sh/discovery" = local.infra.cluster_name }
      }]
      # IMDSv2 only, and out of pods' reach (one hop): pods use IRSA, never the node's role.
      metadataOptions = {
        httpEndpoint            = "enabled"
        httpTokens              = "required"
        httpPutResponseHopLimit = 1
      }
      blockDeviceMappings = [
        {
          # Bottlerocket OS volume.
          deviceName = "/dev/xvda"
          ebs        = { volumeSize = "8Gi", volumeType = "gp3", encrypted = true }
        },
        {
          # Bottlerocket data volume: container images (the CUDA image is ~10 GB) and emptyDirs
          # (weights under /mnt/models, segments under /tmp).
          deviceName = "/dev/xvdb"
          ebs = {
            volumeSize = "200Gi", volumeType = "gp3", encrypted = true,
            iops       = 6000, throughput = 500
          }
        },
      ]
      tags = { project = "stereo-spot" }
    }
  })
}

resource "kubectl_manifest" "gpu_node_pool" {
  depends_on = [kubectl_manifest.node_class]
  yaml_body = yamlencode({
    apiVersion = "karpenter.sh/v1"
    kind       = "NodePool"
    metadata   = { name = "gpu" }
    spec = {
      template = {
        metadata = { labels = { "stereo-spot/accelerator" = "nvidia" } }
        spec = {
          nodeClassRef = { group = "karpenter.k8s.aws", kind = "EC2NodeClass", name = "default" }
          requirements = [
            { key = "karpenter.k8s.aws/instance-family", operator = "In", values = var.gpu_instance_families },
            # With both listed Karpenter picks spot first (price-capacity-optimized) and falls back
            # to on-demand when no spot capacity is offered.
            { key = "karpenter.sh/capacity-type", operator = "In", values = var.gpu_capacity_types },
            { key = "karpenter.k8s.aws/instance-gpu-count", operator = "In", values = ["1"] },
            { key = "kubernetes.io/arch", operator = "In", values = ["amd64"] },
          ]
          # Only pods that tolerate this (the InferenceService) land on GPU nodes.
          taints = [{ key = "nvidia.com/gpu", value = "true", effect = "NoSchedule" }]
          # A node is replaced after a week so AMI and driver updates roll in.
          expireAfter = "168h"
        }
      }
      # The cost ceiling: never more GPUs than this across the pool.
      limits = { "nvidia.com/gpu" = var.gpu_limit }
      disruption = {
        # Remove empty GPU nodes (after the InferenceService scaled to zero) but never repack a
        # busy one: moving a pod mid-segment throws away minutes of GPU work.
        consolidationPolicy = "WhenEmpty"
        consolidateAfter    = "5m"
        budgets             = [{ nodes = "1" }]
      }
    }
  })
}

# Bursty CPU work (the pipeline's chunk and reassemble steps run ffmpeg). On-demand only: chunk and
# reassemble have no retries (a retry would only delay a bad input's reason), so a spot reclaim
# under either failed its job for good; nothing but the pipeline's task pods runs here
# (add-ons and the portal select the system nodes), and they run for minutes a job.
resource "kubectl_manifest" "cpu_node_pool" {
  depends_on = [kubectl_manifest.node_class]
  yaml_body = yamlencode({
    apiVersion = "karpenter.sh/v1"
    kind       = "NodePool"
    metadata   = { name = "cpu" }
    spec = {
      template = {
        spec = {
          nodeClassRef = { group = "karpenter.k8s.aws", kind = "EC2NodeClass", name = "default" }
          requirements = [
            { key = "karpenter.k8s.aws/instance-category", operator = "In", values = ["c", "m"] },
            { key = "karpenter.k8s.aws/instance-generation", operator = "Gt", values = ["5"] },
            { key = "karpenter.sh/capacity-type", operator = "In", values = ["on-demand"] },
            { key = "kubernetes.io/arch", operator = "In", values = ["amd64"] },
          ]
          expireAfter = "168h"
        }
      }
      limits = { cpu = var.cpu_limit }
      disruption = {
        consolidationPolicy = "WhenEmptyOrUnderutilized"
        consolidateAfter    = "2m"
      }
    }
  })
}
