variable "region" {
  description = "AWS region for every Stereo-Spot resource."
  type        = string
  default     = "eu-west-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "name" {
  description = "Prefix of every resource name (cluster, buckets, table, roles, repositories)."
  type        = string
  default     = "stereo-spot"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "name must be 3-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags put on every resource (cost allocation, owner)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the cluster's VPC (three private and three public /20 subnets are cut from it)."
  type        = string
  default     = "10.42.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 18
    error_message = "vpc_cidr must be a valid CIDR block of /18 or larger."
  }
}

variable "kubernetes_version" {
  description = "EKS control plane version. Karpenter supports a range of Kubernetes versions (1.32 needs Karpenter 1.2 or newer; karpenter.sh, Upgrading, Compatibility): before raising this, raise terraform/platform's karpenter_version to one that supports the new version and apply the platform stage. The platform stage refuses a karpenter_version that does not support this version."
  type        = string
  default     = "1.32"
  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be 1.28 or newer, as MAJOR.MINOR."
  }
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDR blocks allowed to reach the public EKS API endpoint (your office or CI egress). Empty = private endpoint only."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "Each entry must be a CIDR block, and 0.0.0.0/0 is not allowed."
  }
}

variable "system_node_instance_types" {
  description = "Instance types of the managed node group that runs Karpenter, KFP, KServe and the portal."
  type        = list(string)
  default     = ["m6i.xlarge", "m7i.xlarge"]
}

variable "segments_expiry_days" {
  description = "Days after which source segments (segments/ prefix) are deleted; they are only needed while a job runs."
  type        = number
  default     = 7
  validation {
    condition     = var.segments_expiry_days >= 1 && var.segments_expiry_days <= 365
    error_message = "segments_expiry_days must be between 1 and 365."
  }
}

variable "noncurrent_version_expiry_days" {
  description = "Days a media object's replaced or deleted versions are kept (versioning protects against overwrites)."
  type        = number
  default     = 30
  validation {
    condition     = var.noncurrent_version_expiry_days >= 1
    error_message = "noncurrent_version_expiry_days must be at least 1."
  }
}

variable "portal_origins" {
  description = "Browser origins (https://host) allowed by the media bucket's CORS rule for presigned POST uploads and playback."
  type        = list(string)
  default     = ["https://stereo-spot.example.com"]
  validation {
    condition     = length(var.portal_origins) > 0 && alltrue([for o in var.portal_origins : can(regex("^https?://[^/*]+$", o))])
    error_message = "portal_origins must list scheme://host origins, without paths or wildcards."
  }
}

variable "kfp_namespace" {
  description = "Namespace where KFP runs its pipeline pods (kubeflow for standalone KFP, the profile namespace for multi-user); the pipeline role trusts its stereo-spot-pipeline service account there."
  type        = string
  default     = "kubeflow"
}

variable "app_namespace" {
  description = "Namespace of the portal and the InferenceService (manifests/base)."
  type        = string
  default     = "stereo-spot"
}
