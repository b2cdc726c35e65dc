# One customer-managed key for Stereo-Spot's data at rest: media and weights buckets, the jobs
# table, and the ECR repositories. The IRSA roles get encrypt/decrypt on it through their policies.
resource "aws_kms_key" "data" {
  description             = "${var.name}: media, weights, jobs table and images at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndDelegatesToIAM"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}
