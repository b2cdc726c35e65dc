"""The container image KFP runs the components in (built from components/Dockerfile)."""

import os

# Overridable at compile time so a cluster build can pin its own registry and tag.
# STEREO_SPOT_COMPONENTS_IMAGE is the name the manifests' ConfigMaps and docs/DEPLOY.md use;
# STEREO_SPOT_COMPONENT_IMAGE (what `compile-pipeline --image` sets) wins when both are set.
COMPONENT_IMAGE = (
    os.environ.get("STEREO_SPOT_COMPONENT_IMAGE")
    or os.environ.get("STEREO_SPOT_COMPONENTS_IMAGE")
    or "ghcr.io/stereo-spot/stereo-spot-components:0.1.0"
)
