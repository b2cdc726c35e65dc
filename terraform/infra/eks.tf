module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (registry releases are immutable); terraform init writes the module's source into .terraform/modules for review.
  source  = "terraform-aws-modules/eks/aws"
  version = "20.31.6"

  cluster_name    = var.name
  cluster_version = var.kubernetes_version

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access       = length(var.cluster_endpoint_public_access_cidrs) > 0
  cluster_endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs

  # IRSA: the OIDC provider the portal, pipeline and inference roles trust.
  enable_irsa = true

  # Secrets encrypted with a customer-managed key; control-plane logs kept for audit.
  create_kms_key                         = true
  cluster_encryption_config              = { resources = ["secrets"] }
  cluster_enabled_log_types              = ["api", "audit", "authenticator"]
  cloudwatch_log_group_retention_in_days = 90

  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = true

  cluster_addons = {
    coredns    = {}
    kube-proxy = {}
    vpc-cni = {
      before_compute = true
      # Enforces the NetworkPolicies in manifests/base.
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    eks-pod-identity-agent = {}
    aws-ebs-csi-driver = {
      service_account_role_arn = module.ebs_csi_driver_role.iam_role_arn
    }
  }

  # The always-on nodes: Karpenter's controller cannot run on nodes it manages, and KFP, KServe,
  # Knative and the portal are small and steady. GPU and bursty CPU work goes to Karpenter.
  eks_managed_node_groups = {
    system = {
      instance_types = var.system_node_instance_types
      ami_type       = "AL2023_x86_64_STANDARD"
      min_size       = 2
      max_size       = 4
      desired_size   = 2
      # Every add-on (terraform/platform: local.system_nodes) and the portal
      # (manifests/overlays/aws) select these nodes by this label; no node Karpenter launches
      # carries it.
      labels = {
        "karpenter.sh/controller" = "true"
      }
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }
    }
  }

  node_security_group_tags = {
    "karpenter.sh/discovery" = var.name
  }
}
