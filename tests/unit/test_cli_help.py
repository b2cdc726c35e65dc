"""What ``stereo-spot --help`` and each verb's ``--help`` tell: what the verb does, and the
default of every option that has one."""

from __future__ import annotations

import argparse

import pytest

from stereo_spot.cli import build_parser


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def _help(verb: str) -> str:
    # Unwrapped, so that a phrase split over two lines is found.
    return " ".join(_verbs()[verb].format_help().split())


VERBS = ["convert", "submit", "image", "depth", "render-view", "serve-model", "compile-pipeline",
         "portal", "up", "jobs"]  # fmt: skip


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_says_what_it_does_in_its_help(verb) -> None:
    described = _verbs()[verb].description
    assert described and described.endswith("."), f"{verb} --help has no description"


@pytest.mark.parametrize("action", ["list", "show", "retry", "cancel", "delete"])
def test_each_jobs_action_says_what_it_does_in_its_help(action) -> None:
    (actions,) = [a for a in _verbs()["jobs"]._actions if isinstance(a, argparse._SubParsersAction)]
    described = actions.choices[action].description
    assert described and described.endswith("."), f"jobs {action} --help has no description"


@pytest.mark.parametrize(
    ("verb", "said"),
    [
        ("up", "(default 8000)"),
        ("up", "(default 127.0.0.1"),
        ("portal", "(default 8000)"),
        ("portal", "(default 127.0.0.1"),
        ("serve-model", "(default 8080)"),
        ("serve-model", "(default 127.0.0.1"),
        ("compile-pipeline", "the YAML file to write (default stereo_pipeline.yaml)"),
        ("convert", "(default anaglyph)"),
        ("submit", "(default anaglyph)"),
        ("image", "(default anaglyph)"),
        ("convert", "default: STEREO_SPOT_DATA_DIR, else ~/.stereo-spot"),
        ("up", "default: STEREO_SPOT_DATA_DIR, else ~/.stereo-spot"),
        ("render-view", "in pixels"),
    ],
)
def test_a_verb_s_help_states_its_defaults(verb, said) -> None:
    assert said in _help(verb)


def test_the_verb_list_names_the_data_folder() -> None:
    shown = " ".join(build_parser().format_help().split())
    assert "STEREO_SPOT_DATA_DIR, else ~/.stereo-spot" in shown
