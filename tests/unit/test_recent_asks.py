"""portal.asks.RecentAsks: what a repeated ask is answered with, and for how long."""

from __future__ import annotations

from portal.asks import RecentAsks


def test_an_ask_keeps_its_job_id_until_it_is_forgotten_or_renewed() -> None:
    now = [0.0]
    asks = RecentAsks(seconds=600, clock=lambda: now[0])

    job_id, made = asks.claim("sbs of video A")
    assert not made, "nothing was made under it yet"
    assert asks.claim("sbs of video A") == (job_id, False), "an ask still making its job"
    assert asks.claim("tab of video A")[0] != job_id, "another ask, another job"

    asks.made("sbs of video A", job_id)
    now[0] = 599.0
    assert asks.claim("sbs of video A") == (job_id, True)

    renewed = asks.renew("sbs of video A")  # its job failed or was deleted
    assert renewed != job_id and asks.claim("sbs of video A") == (renewed, False)

    asks.made("sbs of video A", renewed)
    now[0] = 599.0 + 601.0
    assert asks.claim("sbs of video A")[1] is False, "ten minutes on, a new conversion"


def test_a_job_made_under_an_older_id_does_not_mark_a_renewed_ask() -> None:
    asks = RecentAsks()
    first, _ = asks.claim("ask")
    renewed = asks.renew("ask")
    asks.made("ask", first)  # a slow request of the first try finishing late
    assert asks.claim("ask") == (renewed, False)
