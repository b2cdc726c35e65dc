output "region" {
  description = "AWS region of every resource."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "kubernetes_version" {
  description = "EKS control plane version (MAJOR.MINOR); the platform stage checks that karpenter_version supports it."
  value       = module.eks.cluster_version
}

output "cluster_endpoint" {
  description = "EKS API endpoint, for the platform stage's providers."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "EKS cluster CA (base64), for the platform stage's providers."
  value       = module.eks.cluster_certificate_authority_data
}

output "vpc_id" {
  description = "VPC of the cluster (the load balancer controller needs it)."
  value       = module.vpc.vpc_id
}

output "media_bucket" {
  description = "Bucket for sources, segments and results (STEREO_SPOT_BUCKET)."
  value       = aws_s3_bucket.this["media"].bucket
}

output "weights_bucket" {
  description = "Bucket for model weights (KServe storageUri)."
  value       = aws_s3_bucket.this["weights"].bucket
}

output "jobs_table" {
  description = "DynamoDB jobs table (STEREO_SPOT_JOBS_TABLE)."
  value       = aws_dynamodb_table.jobs.name
}

output "ecr_repositories" {
  description = "Image repository URLs by image name."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "role_arns" {
  description = "IRSA role ARNs by ServiceAccount."
  value = {
    portal    = module.portal_role.arn
    pipeline  = module.pipeline_role.arn
    inference = module.inference_role.arn
  }
}

output "lb_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  value       = module.lb_controller_role.iam_role_arn
}

output "karpenter" {
  description = "What the Karpenter Helm release and EC2NodeClass need."
  value = {
    controller_role_arn = module.karpenter.iam_role_arn
    node_role_name      = module.karpenter.node_iam_role_name
    queue_name          = module.karpenter.queue_name
  }
}
