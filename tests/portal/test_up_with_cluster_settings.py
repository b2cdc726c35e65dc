"""``stereo-spot up`` in a shell set up for the AWS backend or a cluster: it still runs the
laptop's stack on the data folder, and says once that it ignores those settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from stereo_spot.cli import main


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on: ``up`` stops there, after its notes and before it
    starts a model server, which keeps these tests to a fraction of a second."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        yield other.getsockname()[1]


def _up_notes(port: int, data, capsys) -> list[str]:
    assert main(["up", "--port", str(port), "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert f"Cannot listen on 127.0.0.1:{port}" in err
    return [line for line in err.splitlines() if line.startswith("note:")]


def test_up_says_it_keeps_to_the_data_folder_when_the_aws_backend_is_set(
    tmp_path, taken_port, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STEREO_SPOT_BACKEND", "aws")
    monkeypatch.delenv("STEREO_SPOT_KFP_HOST", raising=False)

    assert _up_notes(taken_port, tmp_path, capsys) == [
        f"note: `stereo-spot up` ignores STEREO_SPOT_BACKEND=aws: it keeps media and jobs in "
        f"{tmp_path} and converts on this machine; `stereo-spot portal` is the command for those "
        "settings."
    ]


def test_up_names_a_kfp_host_it_ignores_with_the_backend(
    tmp_path, taken_port, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STEREO_SPOT_BACKEND", "aws")
    monkeypatch.setenv("STEREO_SPOT_KFP_HOST", "http://127.0.0.1:8888")

    (note,) = _up_notes(taken_port, tmp_path, capsys)
    assert note.startswith(
        "note: `stereo-spot up` ignores STEREO_SPOT_BACKEND=aws and STEREO_SPOT_KFP_HOST: "
    )


def test_up_on_the_local_backend_has_nothing_to_note(
    tmp_path, taken_port, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("STEREO_SPOT_BACKEND", raising=False)
    monkeypatch.delenv("STEREO_SPOT_KFP_HOST", raising=False)

    assert _up_notes(taken_port, tmp_path, capsys) == []
