"""Reliability fixtures: the pipeline tests' embedded stack (one real model server per session)."""

from tests.pipeline.conftest import Embedded, embedded  # noqa: F401  (re-exported fixture)
