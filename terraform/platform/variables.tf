variable "region" {
  description = "AWS region (the same as the infra stage)."
  type        = string
  default     = "eu-west-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "state_bucket" {
  description = "Terraform state bucket created by terraform/bootstrap (the infra stage's state is read from it)."
  type        = string
}

variable "gpu_limit" {
  description = "Most NVIDIA GPUs the GPU NodePool may run at once: the cost ceiling, about one g5.2xlarge or g6.2xlarge per GPU (the predictor's 14 GiB memory request does not fit an xlarge). Also the InferenceService's maxReplicas and the pipeline's parallel segments (kustomize_inputs GPU_LIMIT)."
  type        = number
  default     = 4
  validation {
    condition     = var.gpu_limit >= 1 && var.gpu_limit <= 64 && floor(var.gpu_limit) == var.gpu_limit
    error_message = "gpu_limit must be a whole number between 1 and 64."
  }
}

variable "gpu_instance_families" {
  description = "EC2 instance families the GPU NodePool may launch (NVIDIA A10G = g5, L4 = g6, 24 GB; L40S = g6e, 48 GB). The pool takes one-GPU sizes only (karpenter.tf), so a family must have some."
  type        = list(string)
  default     = ["g5", "g6"]
  validation {
    condition     = length(var.gpu_instance_families) > 0 && alltrue([for f in var.gpu_instance_families : can(regex("^(g|p)[0-9]+[a-z]*$", f))])
    error_message = "gpu_instance_families must list GPU families such as g5, g6, g6e."
  }
  # The NodePool requires instance-gpu-count 1: a family sold only with 4 or 8 GPUs a machine
  # would be accepted here and never launched.
  validation {
    condition     = length(setintersection(var.gpu_instance_families, ["p3dn", "p4d", "p4de", "p5e", "p5en"])) == 0
    error_message = "p3dn, p4d, p4de, p5e and p5en come with 8 GPUs a machine only; the GPU NodePool launches one-GPU sizes (for 40 GB and more, g6e: one 48 GB L40S up to g6e.16xlarge)."
  }
}

variable "gpu_capacity_types" {
  description = "Capacity types for GPU nodes. With both, Karpenter launches spot first and falls back to on-demand when spot is short."
  type        = list(string)
  default     = ["spot", "on-demand"]
  validation {
    condition     = length(var.gpu_capacity_types) > 0 && alltrue([for c in var.gpu_capacity_types : contains(["spot", "on-demand"], c)])
    error_message = "gpu_capacity_types may contain only spot and on-demand."
  }
}

variable "cpu_limit" {
  description = "Most vCPUs the CPU NodePool (pipeline chunk/reassemble pods) may run at once."
  type        = number
  default     = 64
  validation {
    condition     = var.cpu_limit >= 4
    error_message = "cpu_limit must be at least 4."
  }
}

variable "node_ami_alias" {
  description = "EC2NodeClass AMI alias. Bottlerocket's NVIDIA variants (picked for GPU types) ship the driver and device plugin. Pin a version (bottlerocket@v1.x.y) for reproducible nodes."
  type        = string
  default     = "bottlerocket@latest"
  validation {
    condition     = can(regex("^bottlerocket@(latest|v[0-9]+\\.[0-9]+\\.[0-9]+)$", var.node_ami_alias))
    error_message = "node_ami_alias must be bottlerocket@latest or bottlerocket@vX.Y.Z."
  }
}

variable "karpenter_version" {
  description = "Karpenter Helm chart version (oci://public.ecr.aws/karpenter/karpenter). It must support terraform/infra's kubernetes_version (1.2 or newer for EKS 1.32; karpenter.sh, Upgrading, Compatibility): the plan stops otherwise (karpenter.tf). Raise it before kubernetes_version, and read Karpenter's upgrade guide for each minor version crossed: the chart installs its CRDs only on the first install (docs/DEPLOY.md, section 3)."
  type        = string
  default     = "1.2.1"
  validation {
    # Chart versions have no "v" since 0.35; karpenter.tf reads MAJOR.MINOR from it.
    condition     = can(regex("^1\\.[0-9]+\\.[0-9]+$", var.karpenter_version))
    error_message = "karpenter_version must be a Karpenter 1.x chart version, as X.Y.Z without a v (1.2.1)."
  }
}

variable "cert_manager_version" {
  description = "cert-manager Helm chart version (KServe's webhooks need its certificates)."
  type        = string
  default     = "v1.16.2"
}

variable "knative_operator_version" {
  description = "Knative Operator Helm chart version; it installs Knative Serving with Kourier, which KServe's Serverless mode (scale to zero) needs."
  type        = string
  default     = "v1.16.0"
}

variable "kserve_version" {
  description = "KServe Helm chart version (oci://ghcr.io/kserve/charts); keep in step with the kserve SDK pin in pyproject.toml."
  type        = string
  default     = "v0.21.0"
}

variable "kfp_version" {
  description = "Kubeflow Pipelines standalone release (git ref of its kustomize manifests); keep in step with the kfp SDK pin in pyproject.toml."
  type        = string
  default     = "2.17.3"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.kfp_version))
    error_message = "kfp_version must be a release such as 2.17.3."
  }
}

variable "argocd_version" {
  description = "Argo CD Helm chart version (https://argoproj.github.io/argo-helm, chart argo-cd)."
  type        = string
  default     = "7.8.20"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.argocd_version))
    error_message = "argocd_version must be an exact chart release such as 7.8.20."
  }
}

variable "lb_controller_version" {
  description = "AWS Load Balancer Controller Helm chart version (https://aws.github.io/eks-charts)."
  type        = string
  default     = "1.11.0"
}

variable "inference_request_timeout_seconds" {
  description = "Longest single inference request (one segment) Knative lets through. At least the InferenceService's timeout (manifests/base/inferenceservice.yaml) and the convert step's client timeout (components/convert.py REQUEST_TIMEOUT_SECONDS), both 3600: a lower value cuts off segments those two still wait for. Raising it past 3600 lets nothing run longer until both of those are raised too."
  type        = number
  default     = 3600
  validation {
    condition     = var.inference_request_timeout_seconds >= 3600 && var.inference_request_timeout_seconds <= 7200
    error_message = "inference_request_timeout_seconds must be between 3600 (the InferenceService's and the convert step's timeout) and 7200."
  }
}

variable "portal_hostname" {
  description = "Public DNS name of the portal (Ingress host)."
  type        = string
  default     = "stereo-spot.example.com"
}

variable "certificate_arn" {
  description = "ACM certificate for portal_hostname, used by the ALB's HTTPS listener."
  type        = string
  default     = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "weights_prefix" {
  description = "Prefix in the weights bucket that the InferenceService loads (one prefix per engine and version)."
  type        = string
  default     = "stereocrafter/v1"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]*[a-z0-9]$", var.weights_prefix))
    error_message = "weights_prefix must be a relative S3 prefix without leading or trailing slashes."
  }
}

variable "image_tag" {
  description = "Image tag (git SHA) to deploy; the render script can override it."
  type        = string
  default     = "0.1.0"
  validation {
    condition     = var.image_tag != "latest" && can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid, immutable tag (never latest)."
  }
}
