terraform {
  required_version = ">= 1.10.0"

  backend "s3" {
    key          = "stereo-spot/platform.tfstate"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.84.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "2.17.0"
    }
    # kubectl_manifest applies custom resources (NodePool, KnativeServing) whose CRDs are created
    # in the same apply; hashicorp/kubernetes' kubernetes_manifest needs them at plan time.
    kubectl = {
      source  = "alekc/kubectl"
      version = "2.1.3"
    }
    # Kubeflow Pipelines publishes its standalone install as kustomize bases, not a Helm chart.
    kustomization = {
      source  = "kbst/kustomization"
      version = "0.9.6"
    }
  }
}
