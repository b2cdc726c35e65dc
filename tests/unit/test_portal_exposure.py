"""What ``stereo-spot portal`` and ``up`` tell an operator as they start listening: a portal open
to other machines with no sign-in, and replicas on AWS that would each make their own key."""

from __future__ import annotations

import pytest

from stereo_spot.cli.web import _address, exposure_warnings
from stereo_spot.settings import Settings

OPEN = (
    "the portal listens on {host}, which other machines reach, and asks no one to sign in: "
    "anyone who can reach it can upload, watch and delete videos. Set "
    "STEREO_SPOT_BASIC_AUTH=user:password (and STEREO_SPOT_AUTH_TOKEN for scripts)."
)
OWN_KEY = (
    "STEREO_SPOT_SECRET_KEY is unset, so this portal made a key of its own: with more than one "
    "replica, a form served by one and posted to another is refused. Give them all the same key."
)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_portal_on_this_machine_alone_says_nothing(host, tmp_path) -> None:
    assert exposure_warnings(Settings(data_dir=tmp_path), host) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_a_portal_others_reach_without_a_sign_in_says_so(host, tmp_path) -> None:
    assert exposure_warnings(Settings(data_dir=tmp_path), host) == [OPEN.format(host=host)]
    for sign_in in ({"basic_auth": "studio:long-password"}, {"auth_token": "a-token"}):
        assert exposure_warnings(Settings(data_dir=tmp_path, **sign_in), host) == []


def test_a_portal_on_aws_without_a_shared_key_says_so(tmp_path) -> None:
    on_aws = {"data_dir": tmp_path, "backend": "aws", "basic_auth": "studio:long-password"}
    assert exposure_warnings(Settings(**on_aws), "10.0.3.7") == [OWN_KEY]
    assert exposure_warnings(Settings(**on_aws, secret_key="k" * 64), "10.0.3.7") == []


def test_an_empty_sign_in_is_no_sign_in_and_says_so(tmp_path, monkeypatch) -> None:
    # `STEREO_SPOT_AUTH_TOKEN=` (an env file's empty line) left the portal open, silently.
    for variable in ("STEREO_SPOT_AUTH_TOKEN", "STEREO_SPOT_BASIC_AUTH"):
        monkeypatch.setenv(variable, "")
    settings = Settings(data_dir=tmp_path)
    assert (settings.auth_token, settings.basic_auth) == (None, None)
    assert exposure_warnings(settings, "0.0.0.0") == [OPEN.format(host="0.0.0.0")]


@pytest.mark.parametrize(
    ("host", "address"),
    [("0.0.0.0", "http://127.0.0.1:8000/"), ("::1", "http://[::1]:8000/"),
     ("fe80::1", "http://[fe80::1]:8000/"), ("192.168.1.20", "http://192.168.1.20:8000/")],
)  # fmt: skip
def test_the_address_it_says_to_open_is_a_url(host, address) -> None:
    assert _address(host, 8000) == address
