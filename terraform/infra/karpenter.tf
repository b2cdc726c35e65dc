# Karpenter's AWS side: the controller's IAM role (IRSA), the node IAM role and instance profile,
# and the SQS interruption queue fed by EventBridge rules for spot interruption warnings, rebalance
# recommendations, instance state changes and scheduled health events. Karpenter reads that queue
# and cordons, drains and replaces a node as soon as AWS announces its end, which is exactly what
# the aws-node-termination-handler would do; running both would make two controllers race to
# drain the same node, so there is no Node Termination Handler here.
module "karpenter" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (registry releases are immutable); terraform init writes the module's source into .terraform/modules for review.
  source  = "terraform-aws-modules/eks/aws//modules/karpenter"
  version = "20.31.6"

  cluster_name = module.eks.cluster_name

  enable_v1_permissions           = true
  enable_irsa                     = true
  irsa_oidc_provider_arn          = module.eks.oidc_provider_arn
  irsa_namespace_service_accounts = ["kube-system:karpenter"]
  create_pod_identity_association = false

  enable_spot_termination = true
  queue_name              = "${var.name}-karpenter"

  node_iam_role_use_name_prefix = false
  node_iam_role_name            = "${var.name}-karpenter-node"
  node_iam_role_additional_policies = {
    AmazonSSMManagedInstanceCore = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
  }
}
