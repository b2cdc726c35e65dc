# Stage 0: the S3 bucket that holds Terraform state for the infra and platform stages. Applied once
# per account with local state (`terraform -chdir=terraform/bootstrap apply`); state locking uses
# S3's native lock files (use_lockfile, Terraform >= 1.10), so no DynamoDB lock table is needed.

terraform {
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.84.0"
    }
  }
}

variable "region" {
  description = "AWS region for the state bucket (use the same region as the cluster)."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "state_bucket_name" {
  description = "Globally unique name for the Terraform state bucket, e.g. stereo-spot-tfstate-<account id>."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "stereo-spot", stage = "bootstrap" }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "state" {
  description         = "Encrypts Stereo-Spot's Terraform state"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:State is rebuilt from code; cross-region replication is not worth a second region's cost here.
  #checkov:skip=CKV_AWS_18:Access to state is audited by CloudTrail data events, not S3 server access logs.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events for state objects.
  #checkov:skip=CKV2_AWS_61:State versions are kept indefinitely on purpose (recovery of any past state).
  bucket = var.state_bucket_name
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

output "state_bucket" {
  description = "Pass as -backend-config=bucket=... to the infra and platform stages."
  value       = aws_s3_bucket.state.bucket
}

output "state_kms_key_arn" {
  description = "Pass as -backend-config=kms_key_id=... to the infra and platform stages."
  value       = aws_kms_key.state.arn
}
