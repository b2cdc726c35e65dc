# An IAM role one Kubernetes ServiceAccount may assume through the cluster's OIDC provider (IRSA),
# with exactly one inline policy. The trust is pinned to namespace/name and the STS audience, so
# no other pod in the cluster can use it.

variable "name" {
  description = "IAM role name."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider."
  type        = string
}

variable "namespace" {
  description = "Namespace of the ServiceAccount that may assume the role."
  type        = string
}

variable "service_account" {
  description = "Name of the ServiceAccount that may assume the role."
  type        = string
}

variable "policy_json" {
  description = "The role's permissions, as an IAM policy document (JSON)."
  type        = string
}

# A presigned URL stops working when the session that signed it ends. stereo_spot/aws_session.py
# asks STS for the longest link the pod's settings give (STEREO_SPOT_UPLOAD_URL_SECONDS /
# STEREO_SPOT_DOWNLOAD_URL_SECONDS, 3600 s by default) plus 1260 s to renew it in time: 4860 s by
# default, which a 3600 s role refuses. 43200 (STS's most) lets a link work up to 41940 s.
variable "max_session_duration" {
  description = "The longest session (seconds) the pod may ask STS for: a presigned URL works for at most this minus 1260 s (stereo_spot/aws_session.py)."
  type        = number
  default     = 43200
  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

locals {
  # arn:aws:iam::123:oidc-provider/oidc.eks.region.amazonaws.com/id/XYZ -> oidc.eks.../id/XYZ
  issuer = element(split("oidc-provider/", var.oidc_provider_arn), 1)
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
}

resource "aws_iam_role_policy" "this" {
  name   = var.name
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

output "arn" {
  description = "ARN of the role, for the ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = aws_iam_role.this.arn
}
