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


# Without a variable: the name components/Dockerfile's image gets when it is built and loaded into
# a kind or minikube cluster (the local overlay names the same). No registry publishes it, so a
# cluster that pulls from one (ECR) must name its own: the aws overlay's portal always does.
# kfp.local runs ignore the image. Not refused when unset: every local run imports this module.
LOCAL_IMAGE = "stereo-spot-components:0.1.0"

# STEREO_SPOT_COMPONENTS_IMAGE is the variable the manifests' ConfigMaps and docs/DEPLOY.md use;
# STEREO_SPOT_COMPONENT_IMAGE is how `compile-pipeline --image` hands its value here, and wins.
COMPONENT_IMAGE = pinned_image(
    os.environ.get("STEREO_SPOT_COMPONENT_IMAGE")
    or os.environ.get("STEREO_SPOT_COMPONENTS_IMAGE")
    or LOCAL_IMAGE
)
