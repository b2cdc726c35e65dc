"""Reliability fixtures, shared with the suites they extend: the pipeline tests' embedded stack
(one real model server per session) and the portal tests' app over real local adapters."""

from tests.pipeline.conftest import Embedded, embedded  # noqa: F401  (re-exported fixtures)
from tests.portal.conftest import client, jobs, launcher, settings, storage  # noqa: F401
