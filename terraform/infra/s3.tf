locals {
  account_id = data.aws_caller_identity.current.account_id
  buckets = {
    # Sources, segments, converted segments and results (object keys: DESIGN.md).
    media = "${var.name}-media-${local.account_id}"
    # Model weights, one prefix per engine and version (KServe storageUri points at one prefix).
    weights = "${var.name}-weights-${local.account_id}"
    # Server access logs of the two buckets above.
    logs = "${var.name}-s3-logs-${local.account_id}"
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Media is reproducible from the uploader's source and weights from their publisher; a second region doubles storage cost for no recovery need.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications: the pipeline is started by the portal, not by uploads.
  #checkov:skip=CKV2_AWS_6:Public access block is aws_s3_bucket_public_access_block.this (for_each over these buckets); checkov does not follow for_each connections.
  #checkov:skip=CKV_AWS_18:Access logging is aws_s3_bucket_logging.this (media and weights to the logs bucket; the logs bucket does not log itself).
  #checkov:skip=CKV_AWS_21:Versioning is aws_s3_bucket_versioning.this (for_each over these buckets).
  #checkov:skip=CKV_AWS_145:SSE-KMS is aws_s3_bucket_server_side_encryption_configuration.this for media and weights; the logs bucket must use SSE-S3 (S3 log delivery cannot write SSE-KMS).
  for_each = local.buckets
  bucket   = each.value
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    # ACLs off everywhere except the log bucket, where S3's log delivery still writes with one.
    object_ownership = each.key == "logs" ? "BucketOwnerPreferred" : "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    # S3 server access logs cannot be delivered to a bucket whose default encryption is SSE-KMS.
    apply_server_side_encryption_by_default {
      sse_algorithm     = each.key == "logs" ? "AES256" : "aws:kms"
      kms_master_key_id = each.key == "logs" ? null : aws_kms_key.data.arn
    }
    # Bucket keys cut KMS requests (and their cost) for the many segment objects by ~99%.
    bucket_key_enabled = each.key != "logs"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = { for k, b in aws_s3_bucket.this : k => b if k != "logs" }
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.this["logs"].id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.this["media"].id

  rule {
    id     = "expire-source-segments"
    status = "Enabled"
    filter {
      prefix = "segments/"
    }
    expiration {
      days = var.segments_expiry_days
    }
  }

  rule {
    id     = "expire-old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
    expiration {
      expired_object_delete_marker = true
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "weights" {
  bucket = aws_s3_bucket.this["weights"].id
  rule {
    id     = "abort-uploads-keep-old-weights-a-while"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.this["logs"].id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

# Browsers upload sources in parts (a presigned PUT per part straight to the bucket, whose ETag
# answer the page reads to complete the upload; scripts may use a presigned POST) and play
# results with presigned GETs (range requests for seeking).
resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = aws_s3_bucket.this["media"].id
  cors_rule {
    allowed_methods = ["PUT", "POST", "GET", "HEAD"]
    allowed_origins = var.portal_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Content-Length", "Content-Range", "Accept-Ranges"]
    max_age_seconds = 3600
  }
}

# TLS only, on every bucket; the log bucket admits S3's log delivery service for our buckets only.
data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "AllowS3ServerAccessLogs"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${each.value.arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
