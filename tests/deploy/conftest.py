"""Shared helpers for the deployment tests: rendered overlays and the checkov executable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = ("aws", "local")


def find_checkov() -> str | None:
    """checkov lives in its own venv (its pins clash with the app's): env var, .venv-tools, PATH."""
    candidates = [
        os.environ.get("STEREO_SPOT_CHECKOV"),
        str(ROOT / ".venv-tools" / "bin" / "checkov"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


@pytest.fixture(scope="session")
def manifests_copy(tmp_path_factory) -> Path:
    """A copy of manifests/ whose aws overlay has the example Terraform outputs in place, as
    scripts/render_kustomize_inputs.py --example would leave it (the real file is git-ignored;
    so are the portal's secrets, which no render reads)."""
    copy = tmp_path_factory.mktemp("deploy") / "manifests"
    rendered = ("terraform-outputs.env", "portal-secrets.env")
    shutil.copytree(MANIFESTS, copy, ignore=shutil.ignore_patterns(*rendered))
    aws = copy / "overlays" / "aws"
    shutil.copyfile(aws / "terraform-outputs.env.example", aws / "terraform-outputs.env")
    return copy


@pytest.fixture(scope="session")
def rendered_text(manifests_copy) -> dict[str, str]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlays cannot be rendered (kubectl kustomize)")
    out = {}
    for overlay in OVERLAYS:
        completed = subprocess.run(
            [kubectl, "kustomize", str(manifests_copy / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert completed.returncode == 0, f"overlay {overlay} does not render:\n{completed.stderr}"
        out[overlay] = completed.stdout
    return out


@pytest.fixture(scope="session")
def rendered(rendered_text) -> dict[str, list[dict]]:
    return {
        overlay: [doc for doc in yaml.safe_load_all(text) if doc]
        for overlay, text in rendered_text.items()
    }
