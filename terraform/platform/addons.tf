resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.lb_controller_version

  values = [yamlencode({
    clusterName = local.infra.cluster_name
    region      = var.region
    vpcId       = local.infra.vpc_id
    serviceAccount = {
      name        = "aws-load-balancer-controller"
      annotations = { "eks.amazonaws.com/role-arn" = local.infra.lb_controller_role_arn }
    }
    # Its webhooks admit Services, Ingresses and TargetGroupBindings: while a consolidation
    # moves it, those API calls fail.
    nodeSelector = local.system_nodes
  })]
}

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  namespace        = "cert-manager"
  create_namespace = true
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.cert_manager_version
  wait             = true

  # Each of the chart's pods takes its own selector; the chart's default (kubernetes.io/os:
  # linux) stays, as Helm merges maps. The webhook admits every cert-manager resource, KServe's
  # webhook certificate among them.
  values = [yamlencode({
    crds            = { enabled = true }
    nodeSelector    = local.system_nodes
    webhook         = { nodeSelector = local.system_nodes }
    cainjector      = { nodeSelector = local.system_nodes }
    startupapicheck = { nodeSelector = local.system_nodes }
  })]
}

# Knative Serving through its operator: KServe's Serverless mode needs it for scale to zero and
# request-driven autoscaling. Kourier is the networking layer (no Istio needed).
#
# Not pinned to the system nodes: chart v1.16.0 takes no scheduling value for the operator or its
# webhook (affinity came with knative/operator#1962, after v1.16; nodeSelector is still asked for
# in knative/operator#2305). Both only reconcile the KnativeServing below, so a move costs a
# restart, nothing in flight. Knative Serving's own pods are pinned through the CR.
resource "helm_release" "knative_operator" {
  name             = "knative-operator"
  namespace        = "knative-operator"
  create_namespace = true
  repository       = "https://knative.github.io/operator"
  chart            = "knative-operator"
  version          = var.knative_operator_version
  wait             = true
}

resource "kubectl_manifest" "knative_serving_namespace" {
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = { name = "knative-serving" }
  })
}

resource "kubectl_manifest" "knative_serving" {
  depends_on = [helm_release.knative_operator, kubectl_manifest.knative_serving_namespace]
  yaml_body = yamlencode({
    apiVersion = "operator.knative.dev/v1beta1"
    kind       = "KnativeServing"
    metadata   = { name = "knative-serving", namespace = "knative-serving" }
    spec = {
      ingress = { kourier = { enabled = true } }
      # Every Deployment the operator installs for Serving 1.16 with Kourier, on the system nodes:
      # the activator holds requests (up to the revision timeout) while a GPU node comes up and
      # Kourier's gateway carries them, so a consolidation there cuts inference requests off.
      workloads = [
        { name = "activator", nodeSelector = local.system_nodes },
        { name = "autoscaler", nodeSelector = local.system_nodes },
        { name = "autoscaler-hpa", nodeSelector = local.system_nodes },
        { name = "controller", nodeSelector = local.system_nodes },
        { name = "webhook", nodeSelector = local.system_nodes },
        { name = "net-kourier-controller", nodeSelector = local.system_nodes },
        { name = "3scale-kourier-gateway", nodeSelector = local.system_nodes },
      ]
      config = {
        network = { "ingress-class" = "kourier.ingress.networking.knative.dev" }
        # One segment may take many minutes on a GPU: let a request (and the revision) run as
        # long as the InferenceService's timeout.
        defaults = {
          "revision-timeout-seconds"                = tostring(var.inference_request_timeout_seconds)
          "max-revision-timeout-seconds"            = tostring(var.inference_request_timeout_seconds)
          "revision-response-start-timeout-seconds" = tostring(var.inference_request_timeout_seconds)
        }
        # The InferenceService sets these pod fields; Knative refuses them unless enabled.
        features = {
          "kubernetes.podspec-securitycontext"  = "enabled"
          "kubernetes.podspec-tolerations"      = "enabled"
          "kubernetes.podspec-nodeselector"     = "enabled"
          "kubernetes.podspec-affinity"         = "enabled"
          "kubernetes.podspec-volumes-emptydir" = "enabled"
        }
        autoscaler = {
          "enable-scale-to-zero" = "true"
          # Zero replicas: the activator holds the first request while a GPU node comes up.
          "scale-to-zero-grace-period" = "60s"
        }
        deployment = {
          # Knative resolves image tags to digests before it deploys; ECR is private, so tag
          # resolution would need registry credentials in the controller. Tags are immutable
          # in ECR (terraform/infra/ecr.tf), so skipping resolution for it loses nothing.
          "registries-skipping-tag-resolving" = "kind.local,ko.local,dev.local,${split("/", local.infra.ecr_repositories["portal"])[0]}"
          "progress-deadline"                 = "2400s"
        }
      }
    }
  })
}

resource "helm_release" "kserve_crd" {
  depends_on       = [helm_release.cert_manager]
  name             = "kserve-crd"
  namespace        = "kserve"
  create_namespace = true
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-crd"
  version          = var.kserve_version
}

# The chart is "kserve-resources" since KServe v0.17 (kserve/kserve#5190): "kserve" has no
# release after v0.17.0-rc0, so asking it for var.kserve_version fails the apply ("not found").
# "Serverless" is the mode's older name, which v0.17 and later still take (as "Knative").
resource "helm_release" "kserve" {
  depends_on = [helm_release.kserve_crd, kubectl_manifest.knative_serving]
  name       = "kserve"
  namespace  = "kserve"
  repository = "oci://ghcr.io/kserve/charts"
  chart      = "kserve-resources"
  version    = var.kserve_version
  wait       = true

  values = [yamlencode({
    kserve = {
      controller = {
        # The controller serves the InferenceService webhooks too.
        nodeSelector   = local.system_nodes
        deploymentMode = "Serverless"
        gateway = {
          ingressGateway = { className = "kourier" }
          # The pipeline calls the model in-cluster only; no public route.
          disableIstioVirtualHost = true
        }
      }
      # The chart's ClusterStorageContainer "default" takes this as the securityContext of the
      # storage-initializer init container KServe injects for the predictor's STORAGE_URI (since
      # kserve/kserve#3985 it no longer copies the predictor container's). The stereo-spot
      # namespace enforces Pod Security "restricted", which refuses the whole predictor pod
      # unless the init container drops every capability and disallows privilege escalation
      # (kserve/kserve#5373). Stated in full, seccomp included, rather than left to the chart's
      # defaults; docs/DEPLOY.md says how to check what the cluster got.
      storage = {
        containerSecurityContext = {
          allowPrivilegeEscalation = false
          privileged               = false
          runAsNonRoot             = true
          capabilities             = { drop = ["ALL"] }
          seccompProfile           = { type = "RuntimeDefault" }
        }
      }
    }
  })]
}

# The cluster's default StorageClass. EKS clusters created on Kubernetes 1.30 or later have none
# (gp2 lost its default annotation), and Kubeflow Pipelines' MySQL and object store claim their
# volumes without naming a class: with no default they stay Pending, and KFP never starts. The
# EBS CSI driver provisions it (its role: terraform/infra/irsa.tf), encrypted, in the zone of the
# node the claiming pod lands on.
resource "kubectl_manifest" "default_storage_class" {
  yaml_body = yamlencode({
    apiVersion = "storage.k8s.io/v1"
    kind       = "StorageClass"
    metadata = {
      name        = "gp3"
      annotations = { "storageclass.kubernetes.io/is-default-class" = "true" }
    }
    provisioner          = "ebs.csi.aws.com"
    volumeBindingMode    = "WaitForFirstConsumer"
    reclaimPolicy        = "Delete"
    allowVolumeExpansion = true
    parameters           = { type = "gp3", encrypted = "true" }
  })
}

# Kubeflow Pipelines standalone: the upstream kustomize bases, pinned to a release tag, built and
# applied by the kustomization provider (KFP does not publish a Helm chart).
data "kustomization_build" "kfp_cluster_scoped" {
  path = "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=${var.kfp_version}"
}

resource "kustomization_resource" "kfp_cluster_scoped" {
  for_each = data.kustomization_build.kfp_cluster_scoped.ids
  manifest = data.kustomization_build.kfp_cluster_scoped.manifests[each.value]
}

# An overlay, not a plain build, so that every KFP workload runs on the system nodes: MySQL and
# the object store keep their data on EBS volumes bound to one zone, and each consolidation of the
# cpu pool that evicted them would restart KFP's database and leave it Pending until a node in
# that zone is up. One strategic-merge patch a kind, for every object of that kind in the kubeflow
# namespace (with a target, kustomize ignores the patch's placeholder name); node selectors the
# upstream manifests set are kept.
data "kustomization_overlay" "kfp" {
  resources = ["github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=${var.kfp_version}"]

  dynamic "patches" {
    for_each = ["Deployment", "StatefulSet"]
    content {
      target = { group = "apps", version = "v1", kind = patches.value, namespace = "kubeflow" }
      patch = yamlencode({
        apiVersion = "apps/v1"
        kind       = patches.value
        metadata   = { name = "every" }
        spec       = { template = { spec = { nodeSelector = local.system_nodes } } }
      })
    }
  }
}

resource "kustomization_resource" "kfp" {
  depends_on = [kustomization_resource.kfp_cluster_scoped, kubectl_manifest.default_storage_class]
  for_each   = data.kustomization_overlay.kfp.ids
  manifest   = data.kustomization_overlay.kfp.manifests[each.value]
}

# Argo CD, which keeps the cluster in step with manifests/overlays/aws (manifests/argocd/
# application.yaml, applied once the env/aws branch exists: docs/DEPLOY.md, section 7). The
# chart installs the Application CRD with it. On the system nodes, by the label Terraform gives
# them (terraform/infra/eks.tf): the cpu NodePool has no taint, and consolidation there would
# restart the controller that applies everything else.
resource "helm_release" "argocd" {
  name             = "argocd"
  namespace        = "argocd"
  create_namespace = true
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.argocd_version
  wait             = true

  values = [yamlencode({
    global = { nodeSelector = local.system_nodes }
  })]
}
