terraform {
  required_version = ">= 1.10.0"

  # Partial configuration: bucket/region/kms_key_id come from `terraform init -backend-config=...`
  # (see docs/DEPLOY.md); the bootstrap stage creates the bucket.
  backend "s3" {
    key          = "stereo-spot/infra.tfstate"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.84.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = merge(var.tags, { project = "stereo-spot", stage = "infra" })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The VPC takes the first three zones once, at creation; subnets then pin their zone, so a changing zone list cannot move them.
  state = "available"
}
