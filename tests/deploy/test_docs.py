"""The operator docs' commands name what exists: shell variables they define, Kubernetes fields
Karpenter v1 sets, files in the tree, and run arguments the deployed services accept."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess

import pytest

from tests.deploy.conftest import ROOT

DOCS = ROOT / "docs"


def _code(text: str) -> str:
    """Fenced blocks and inline code spans: what a reader pastes into a shell."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return "\n".join(blocks + re.findall(r"`([^`\n]+)`", rest))


def test_every_shell_variable_the_runbooks_use_is_defined_in_their_preamble():
    """RUNBOOKS used $BUCKET, $WEIGHTS_BUCKET and $TAG; its preamble defined only NS and TABLE."""
    text = (DOCS / "RUNBOOKS.md").read_text()
    preamble = re.search(r"^# Runbooks\n(.*?)^## ", text, re.S | re.M).group(1)
    defined = set(re.findall(r"^([A-Z_]+)=", _code(preamble), re.M))
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", _code(text)))
    assert used <= defined, used - defined
    outputs = (ROOT / "terraform" / "infra" / "outputs.tf").read_text()
    for output in re.findall(r"terraform -chdir=terraform/infra output -raw (\w+)", preamble):
        assert f'output "{output}"' in outputs, output


def test_gpu_node_drain_finds_the_nodeclaim_by_its_node_name():
    """Karpenter v1 sets no karpenter.sh/nodeclaim label on a node: the drain read an empty
    label and deleted nothing. A NodeClaim names its node in status.nodeName."""
    text = (DOCS / "RUNBOOKS.md").read_text()
    (command,) = re.findall(r"^kubectl delete nodeclaim .*$", text, re.M)
    assert "kubectl get nodeclaims" in command and "status.nodeName" in command
    assert "karpenter\\.sh/nodeclaim" not in text and "karpenter.sh/nodeclaim" not in text


def _sdk_calls(text: str) -> list[dict]:
    calls = []
    for line in re.findall(r'^python -c "(.*)"$', text, re.M):
        tree = ast.parse(line.replace("$ACCOUNT", "123456789012"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == (
                "create_run_from_pipeline_package"
            ):
                calls.append({k.arg: ast.literal_eval(k.value) for k in node.keywords})
    return calls


def test_sdk_runs_in_deploy_md_use_the_portal_package_engine_and_segment_length(rendered):
    """DEPLOY's SDK examples left out the engine (the pipeline's default, classical, is refused by
    the StereoCrafter server) and the segment length (10 s segments outrun the 3600 s limit), and
    compiled without the bucket, table, model URL and region the tasks need."""
    from tests.deploy.test_manifests import _config_map

    config = _config_map(rendered["aws"], "stereo-spot-config", "stereo-spot")["data"]
    text = (DOCS / "DEPLOY.md").read_text()
    calls = _sdk_calls(text)
    assert len(calls) >= 1
    for call in calls:
        arguments = call["arguments"]
        assert arguments["engine"] == config["STEREO_SPOT_ENGINE"]
        assert float(arguments["segment_seconds"]) == float(config["STEREO_SPOT_SEGMENT_SECONDS"])
        assert call["service_account"] == config["STEREO_SPOT_KFP_SERVICE_ACCOUNT"]
    # The package is the one the portal compiled from its ConfigMap at start.
    package = f"{config['STEREO_SPOT_DATA_DIR']}/kfp/stereo_pipeline.yaml"
    assert f"exec deploy/stereo-spot-portal -- cat {package} > stereo_pipeline.yaml" in text
    launcher = (ROOT / "pipelines" / "kfp_launcher.py").read_text()
    assert 'Path(self._settings.data_dir) / "kfp" / "stereo_pipeline.yaml"' in launcher
    # Compiling by hand copies every variable the pipeline reads at compile time from the portal.
    (pattern,) = re.findall(r"grep -E '([^']+)'", text)
    for variable in _compile_time_variables():
        assert re.match(pattern, f"{variable}=x"), variable


def _compile_time_variables() -> set[str]:
    """What pipelines/stereo_pipeline.py and components/image.py read from the environment."""
    names = set()
    for path in (ROOT / "pipelines" / "stereo_pipeline.py", ROOT / "components" / "image.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "_CLUSTER_ENV_VARS" for t in node.targets
            ):
                names |= {element.value for element in node.value.elts}
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", "") == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    # The CLI's --image alias.
    return names - {"STEREO_SPOT_COMPONENT_IMAGE"}


_REPO_PATH = re.compile(r"(?<![\w./-])((?:docs|scripts|manifests|terraform|pipelines|components)"
                        r"/[\w./-]*\w)")  # fmt: skip


@pytest.mark.parametrize("doc", ["DEPLOY.md", "RUNBOOKS.md", "MODELS.md"])
def test_files_the_operator_docs_name_exist_or_are_written_by_them(doc):
    text = (DOCS / doc).read_text()
    missing = [p for p in sorted(set(_REPO_PATH.findall(text))) if not (ROOT / p).exists()]
    if missing and not _in_git_checkout():
        pytest.skip(f"not a git checkout: cannot tell generated files from missing ({missing})")
    for path in missing:
        # Written by a step of the docs and git-ignored (terraform.tfvars, portal-secrets.env).
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{doc} names {path}, which does not exist"


def _in_git_checkout() -> bool:
    git = shutil.which("git")
    if git is None:
        return False
    inside = subprocess.run(
        [git, "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True
    )
    return inside.returncode == 0


def test_deploy_md_calls_nothing_a_readme_excerpt():
    """DEPLOY.md had a "README excerpt" section that matched no text in the README."""
    text = (DOCS / "DEPLOY.md").read_text()
    assert not re.findall(r"^#+ .*README", text, re.M | re.I)


def test_runbooks_send_a_failed_cluster_job_to_convert_again_not_to_jobs_retry():
    """RUNBOOKS promised that `jobs retry` (or KFP's Retry) resumes a failed run on the cluster
    from its finished segments; there every unsuccessful run ends failed through the exit handler,
    and a failed job is final. The way back is the job page's "Convert again"."""
    text = (DOCS / "RUNBOOKS.md").read_text()
    template = (ROOT / "portal" / "templates" / "job.html").read_text()
    (label,) = re.findall(r"\*\*\"(Convert again[^\"]*)\"\*\*", text)
    assert " ".join(label.split()) in template  # the text may wrap
    step = re.search(r"^5\. \*\*(.*?)(?=^## )", text, re.S | re.M).group(1)
    assert "local-" in step and "Kubeflow run" in step
    spot = re.search(r"^## Spot interruptions\n(.*?)(?=^## |\Z)", text, re.S | re.M).group(1)
    assert "retry the job" not in spot and "resumes" not in spot
