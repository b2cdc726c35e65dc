# Least-privilege roles for the three deployables (IRSA). Object-key prefixes follow DESIGN.md:
#   input/{job_id}/source.mp4, segments/{job_id}/..., jobs/{job_id}/segments/..., jobs/{job_id}/final.mp4

locals {
  media_arn   = aws_s3_bucket.this["media"].arn
  weights_arn = aws_s3_bucket.this["weights"].arn
  table_arns  = [aws_dynamodb_table.jobs.arn, "${aws_dynamodb_table.jobs.arn}/index/*"]
  # Every access the pipeline makes is by job_id; the portal also queries the status GSI, and
  # alone scans the table (below) and deletes records. Records leave through TTL, or through
  # DeleteItem when a user deletes a job.
  table_actions = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
  ]
  kms_actions = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
}

# Portal: signs uploads of sources (input/: presigned POSTs, and presigned part PUTs of the
# multipart uploads it starts, lists, completes or aborts) and presigned GETs for results (jobs/),
# copies a source for "convert again", and deletes a job's objects (and its unfinished uploads)
# under its three prefixes when the job is deleted. A presigned URL carries the signer's
# permissions, so the portal holds exactly the S3 actions its URLs and those steps need.
data "aws_iam_policy_document" "portal" {
  statement {
    # PutObject also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
    sid = "UploadSourcesAndReadResults"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:ListMultipartUploadParts",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${local.media_arn}/input/*"]
  }
  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject"]
    resources = ["${local.media_arn}/jobs/*"]
  }
  statement {
    # Deleting a job (its page, DELETE /api/jobs/{id}) deletes every object under its prefixes
    # (stereo_spot.keys.job_prefixes) and aborts its unfinished uploads.
    sid     = "DeleteJobs"
    actions = ["s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.media_arn}/input/*",
      "${local.media_arn}/segments/*",
      "${local.media_arn}/jobs/*",
    ]
  }
  statement {
    # Without ListBucket a HeadObject on a missing key answers 403 instead of 404; and a job's
    # delete lists what lies under its prefixes.
    sid       = "TellMissingFromForbidden"
    actions   = ["s3:ListBucket"]
    resources = [local.media_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["input/*", "segments/*", "jobs/*"]
    }
  }
  statement {
    # A job's delete finds its unfinished uploads (S3 has no prefix condition for this one).
    sid       = "FindUnfinishedUploads"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [local.media_arn]
  }
  statement {
    sid       = "JobRecords"
    actions   = local.table_actions
    resources = local.table_arns
  }
  statement {
    # A starting portal submits the jobs a previous one left queued without a run
    # (pipelines/kfp_launcher.py: left_queued -> DynamoJobStore.list_all), and DynamoDB lists a
    # whole table only by Scan. Without it the AccessDenied is logged and those jobs stay queued
    # for good. The status index is only queried, so the scan is granted on the table alone.
    sid       = "FindJobsLeftQueued"
    actions   = ["dynamodb:Scan"]
    resources = [aws_dynamodb_table.jobs.arn]
  }
  statement {
    sid       = "DeleteJobRecords"
    actions   = ["dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.jobs.arn]
  }
  statement {
    sid       = "MediaAndTableKey"
    actions   = local.kms_actions
    resources = [aws_kms_key.data.arn]
  }
}

# Pipeline (chunk, convert, reassemble, finalize): reads sources, writes and reads segments and
# results, records progress.
data "aws_iam_policy_document" "pipeline" {
  statement {
    sid     = "MediaReadWrite"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.media_arn}/input/*",
      "${local.media_arn}/segments/*",
      "${local.media_arn}/jobs/*",
    ]
  }
  statement {
    sid       = "ListJobPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.media_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["input/*", "segments/*", "jobs/*"]
    }
  }
  statement {
    # Deleting under a prefix (the join drops the source segments, a failed job its
    # segments, a preview's chunk step its copy of the upload) looks for unfinished uploads
    # there first (S3 has no prefix condition for this one): without it each delete is refused.
    sid       = "FindUnfinishedUploads"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [local.media_arn]
  }
  statement {
    sid       = "JobRecords"
    actions   = local.table_actions
    resources = local.table_arns
  }
  statement {
    sid       = "MediaAndTableKey"
    actions   = local.kms_actions
    resources = [aws_kms_key.data.arn]
  }
}

# Inference: reads the weights (storage initializer) and source segments, writes converted
# segments only (jobs/{job_id}/segments/...), never the final result or a job record.
data "aws_iam_policy_document" "inference" {
  statement {
    sid       = "ReadWeights"
    actions   = ["s3:GetObject"]
    resources = ["${local.weights_arn}/*"]
  }
  statement {
    sid       = "ListWeights"
    actions   = ["s3:ListBucket"]
    resources = [local.weights_arn]
  }
  statement {
    sid       = "ReadSourceSegments"
    actions   = ["s3:GetObject"]
    resources = ["${local.media_arn}/segments/*"]
  }
  statement {
    # Without ListBucket a HEAD (or GET) of a missing key answers 403, not 404: the server's
    # check that a segment's job was not deleted while it converted
    # (inference_service/segment_conversion.py) would call a deleted segment forbidden. Kept to
    # the source segments' prefix (stereo_spot/keys.py), the only keys the server looks up.
    sid       = "TellMissingSegments"
    actions   = ["s3:ListBucket"]
    resources = [local.media_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["segments/*"]
    }
  }
  statement {
    sid       = "WriteConvertedSegments"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.media_arn}/jobs/*/segments/*"]
  }
  statement {
    sid       = "MediaKey"
    actions   = local.kms_actions
    resources = [aws_kms_key.data.arn]
  }
}

module "portal_role" {
  source            = "../modules/irsa-role"
  name              = "${var.name}-portal"
  oidc_provider_arn = module.eks.oidc_provider_arn
  namespace         = var.app_namespace
  service_account   = "stereo-spot-portal"
  policy_json       = data.aws_iam_policy_document.portal.json
}

module "pipeline_role" {
  source            = "../modules/irsa-role"
  name              = "${var.name}-pipeline"
  oidc_provider_arn = module.eks.oidc_provider_arn
  namespace         = var.kfp_namespace
  service_account   = "stereo-spot-pipeline"
  policy_json       = data.aws_iam_policy_document.pipeline.json
}

module "inference_role" {
  source            = "../modules/irsa-role"
  name              = "${var.name}-inference"
  oidc_provider_arn = module.eks.oidc_provider_arn
  namespace         = var.app_namespace
  service_account   = "stereo-spot-inference"
  policy_json       = data.aws_iam_policy_document.inference.json
}

# The AWS Load Balancer Controller (installed in the platform stage) creates the portal's ALB.
module "lb_controller_role" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (registry releases are immutable); terraform init writes the module's source into .terraform/modules for review.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.52.2"

  role_name                              = "${var.name}-aws-load-balancer-controller"
  attach_load_balancer_controller_policy = true
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:aws-load-balancer-controller"]
    }
  }
}

# The EBS CSI driver (an EKS add-on, eks.tf) creates the volumes behind PersistentVolumeClaims:
# Kubeflow Pipelines' MySQL and object store claim theirs. Without a role of its own it has no
# credentials at all (pods cannot reach the nodes' metadata service: one hop), and every claim
# stays Pending, KFP with it.
module "ebs_csi_driver_role" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (registry releases are immutable); terraform init writes the module's source into .terraform/modules for review.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.52.2"

  role_name             = "${var.name}-ebs-csi-driver"
  attach_ebs_csi_policy = true
  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }
}
