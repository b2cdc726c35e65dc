locals {
  # The *_IMAGE values are repositories without a tag: the overlay adds IMAGE_TAG (the render
  # step's --image-tag, the git SHA the release pushed) to each, the components image included.
  kustomize_inputs = {
    AWS_REGION   = var.region
    MEDIA_BUCKET = local.infra.media_bucket
    JOBS_TABLE   = local.infra.jobs_table
    # With the slash: KServe's storage initializer copies every key that starts with the URI's
    # path, so stereocrafter/v1 would also copy stereocrafter/v10/ into /mnt/models.
    WEIGHTS_URI        = "s3://${local.infra.weights_bucket}/${var.weights_prefix}/"
    PORTAL_IMAGE       = local.infra.ecr_repositories["portal"]
    INFERENCE_IMAGE    = local.infra.ecr_repositories["inference-cuda"]
    COMPONENTS_IMAGE   = local.infra.ecr_repositories["components"]
    IMAGE_TAG          = var.image_tag
    PORTAL_ROLE_ARN    = local.infra.role_arns["portal"]
    PIPELINE_ROLE_ARN  = local.infra.role_arns["pipeline"]
    INFERENCE_ROLE_ARN = local.infra.role_arns["inference"]
    # Standalone KFP's API service (manifests/kfp-access explains multi-user).
    KFP_HOST        = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    PORTAL_HOSTNAME = var.portal_hostname
    CERTIFICATE_ARN = var.certificate_arn
    GPU_NODEPOOL    = "gpu"
    # One GPU a predictor replica: the InferenceService's maxReplicas, and the segments a run
    # converts at once (STEREO_SPOT_PARALLELISM), so no request waits in Knative's activator for
    # a replica the NodePool may not launch, eating its 3600 s timeout.
    GPU_LIMIT = tostring(var.gpu_limit)
  }
}

output "kustomize_inputs" {
  description = "Values manifests/overlays/aws needs; scripts/render_kustomize_inputs.py writes them to terraform-outputs.env."
  value       = local.kustomize_inputs
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = local.infra.cluster_name
}
