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

  values = [yamlencode({ crds = { enabled = true } })]
}

# Knative Serving through its operator: KServe's Serverless mode needs it for scale to zero and
# request-driven autoscaling. Kourier is the networking layer (no Istio needed).
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

resource "helm_release" "kserve" {
  depends_on = [helm_release.kserve_crd, kubectl_manifest.knative_serving]
  name       = "kserve"
  namespace  = "kserve"
  repository = "oci://ghcr.io/kserve/charts"
  chart      = "kserve"
  version    = var.kserve_version
  wait       = true

  values = [yamlencode({
    kserve = {
      controller = {
        deploymentMode = "Serverless"
        gateway = {
          ingressGateway = { className = "kourier" }
          # The pipeline calls the model in-cluster only; no public route.
          disableIstioVirtualHost = true
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

data "kustomization_build" "kfp" {
  path = "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=${var.kfp_version}"
}

resource "kustomization_resource" "kfp" {
  depends_on = [kustomization_resource.kfp_cluster_scoped, kubectl_manifest.default_storage_class]
  for_each   = data.kustomization_build.kfp.ids
  manifest   = data.kustomization_build.kfp.manifests[each.value]
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
    global = { nodeSelector = { "karpenter.sh/controller" = "true" } }
  })]
}
