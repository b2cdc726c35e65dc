"""The container image KFP runs the components in (built from components/Dockerfile)."""

import os

from stereo_spot.errors import InvalidOption


def pinned_image(reference: str) -> str:
    """``reference`` if it names a tag other than ``latest`` or a digest; InvalidOption
    otherwise (misuse: ``compile-pipeline`` exits 2 with the sentence).

    A reference without a tag pulls ``:latest``. The release pushes only git-SHA tags to
    immutable ECR repositories (docs/DEPLOY.md, section 4), so every task pod of a run compiled
    with a bare repository would fail to pull its image; refusing it here fails the portal at
    start, with the reason, instead of every run it submits.
    """
    name = reference.rsplit("/", 1)[-1]
    if "@" in name:
        return reference
    tag = name.partition(":")[2]
    if not tag or tag == "latest":
        raise InvalidOption(
            f"The components image {reference!r} names no tag (or latest): give the tag the "
            "release pushed, e.g. <registry>/stereo-spot/components:<git sha>."
        )
    return reference


# Overridable at compile time so a cluster build can pin its own registry and tag.
# STEREO_SPOT_COMPONENTS_IMAGE is the name the manifests' ConfigMaps and docs/DEPLOY.md use;
# STEREO_SPOT_COMPONENT_IMAGE (what `compile-pipeline --image` sets) wins when both are set.
COMPONENT_IMAGE = pinned_image(
    os.environ.get("STEREO_SPOT_COMPONENT_IMAGE")
    or os.environ.get("STEREO_SPOT_COMPONENTS_IMAGE")
    or "ghcr.io/stereo-spot/stereo-spot-components:0.1.0"
)
