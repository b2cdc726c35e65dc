# Stage 2: what runs inside the cluster besides Stereo-Spot itself: Karpenter and its NodePools,
# the AWS Load Balancer Controller, cert-manager, Knative Serving (Kourier), KServe and Kubeflow
# Pipelines. Reads the infra stage's outputs from its state.

data "terraform_remote_state" "infra" {
  backend = "s3"
  config = {
    bucket = var.state_bucket
    key    = "stereo-spot/infra.tfstate"
    region = var.region
  }
}

locals {
  infra = data.terraform_remote_state.infra.outputs
  # Short-lived tokens from the AWS CLI instead of a static kubeconfig.
  exec_args = ["eks", "get-token", "--cluster-name", local.infra.cluster_name, "--region", var.region]

  # The managed "system" nodes, by the label terraform/infra/eks.tf gives them (no node Karpenter
  # launches carries it). Every add-on's pods select them: the cpu NodePool has no taint, and when
  # it consolidates it evicts what runs there and deletes the node, which restarts a controller or
  # a webhook mid-reconcile and strands a pod whose EBS volume is bound to the old node's zone.
  system_nodes = { "karpenter.sh/controller" = "true" }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "stereo-spot", stage = "platform" }
  }
}

provider "helm" {
  kubernetes {
    host                   = local.infra.cluster_endpoint
    cluster_ca_certificate = base64decode(local.infra.cluster_certificate_authority_data)
    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = local.exec_args
    }
  }
}

provider "kubectl" {
  host                   = local.infra.cluster_endpoint
  cluster_ca_certificate = base64decode(local.infra.cluster_certificate_authority_data)
  load_config_file       = false
  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = local.exec_args
  }
}

provider "kustomization" {
  kubeconfig_raw = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = "eks"
    clusters = [{
      name    = "eks"
      cluster = { server = local.infra.cluster_endpoint, certificate-authority-data = local.infra.cluster_certificate_authority_data }
    }]
    contexts = [{ name = "eks", context = { cluster = "eks", user = "eks" } }]
    users = [{
      name = "eks"
      user = { exec = { apiVersion = "client.authentication.k8s.io/v1beta1", command = "aws", args = local.exec_args } }
    }]
  })
}
