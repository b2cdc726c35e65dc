"""FastAPI dependencies: the adapters the app factory put on ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from portal.launcher import RunLauncher
from stereo_spot.jobs import JobStore
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> ObjectStorage:
    return request.app.state.storage


def get_jobs(request: Request) -> JobStore:
    return request.app.state.jobs


def get_launcher(request: Request) -> RunLauncher | None:
    return request.app.state.launcher


def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
LauncherDep = Annotated[RunLauncher | None, Depends(get_launcher)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
