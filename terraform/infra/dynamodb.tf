# The jobs table: the schema stereo_spot's DynamoJobStore expects and `stereo-spot aws-init`
# creates on a development endpoint (tests/deploy/test_terraform.py keeps the two in step).
resource "aws_dynamodb_table" "jobs" {
  name         = "${var.name}-jobs"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "job_id"

  attribute {
    name = "job_id"
    type = "S"
  }
  attribute {
    name = "status"
    type = "S"
  }
  attribute {
    name = "completed_at"
    type = "S"
  }
  attribute {
    name = "created_at"
    type = "S"
  }

  # The portal's "completed, newest first" list: Query status = completed, ScanIndexForward=false.
  global_secondary_index {
    name            = "status-completed_at"
    hash_key        = "status"
    range_key       = "completed_at"
    projection_type = "ALL"
  }

  # The portal's "not finished" list: each unfinished status's jobs, newest created first
  # (Query per status, merged by the job store). Adding it to a live table backfills it.
  global_secondary_index {
    name            = "status-created_at"
    hash_key        = "status"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  # Job records carry an epoch-seconds expiry; DynamoDB deletes them after it for free.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }

  deletion_protection_enabled = true
}
