"""The container image KFP runs the components in (built from components/Dockerfile)."""

import os

# Overridable at compile time so a cluster build can pin its own registry and tag.
COMPONENT_IMAGE = os.environ.get(
    "STEREO_SPOT_COMPONENT_IMAGE", "ghcr.io/stereo-spot/stereo-spot-components:0.1.0"
)
