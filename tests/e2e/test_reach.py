"""Reachability of Telegram and Alertmanager for the host panel (``GET /api/v1/status``
``reach``): real requests to a real Alertmanager, to the Bot API stand-in, to a server
that answers 503 and to a closed port; answers kept for ``TTL`` seconds of the clock."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.retryserver import ScriptedServer
from tests.servers import alertmanager, free_port
from tests.telegram_standin import StandIn
from zepix_core.api.reach import TELEGRAM_TOKEN_ENV, TTL, Reachability
from zepix_core.loading.config import Config
from zepix_core.telegram.settings import TOKEN_ENV


def config(telegram: str | None, alerts: str | None, token_file: Path | None = None) -> Config:
    sections: dict[str, dict[str, object]] = {}
    if telegram is not None:
        sections["telegram"] = {"api_url": telegram,
                                **({"token_file": str(token_file)} if token_file else {})}
    if alerts is not None:
        sections["alerts"] = {"alertmanager_url": alerts}
    return Config(sections=sections)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_reachable_and_unreachable_targets_are_told_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert TELEGRAM_TOKEN_ENV == TOKEN_ENV  # the bot and the panel find the same token
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    standin = StandIn("77:right")
    token_file = tmp_path / "bot-token"
    try:
        with alertmanager(tmp_path / "am") as am:
            token_file.write_text("77:right\n", encoding="utf-8")
            report = Reachability(Clock()).report(config(standin.base_url, am, token_file))
            assert report["telegram"] == {"configured": True, "reachable": True,
                                          "detail": "HTTP 200", "checked_at": 1_000.0}
            assert report["alertmanager"]["reachable"] is True
            # A token the Bot API refuses, and nothing listening where Alertmanager was said
            # to be: both false, and the token is in no detail.
            token_file.write_text("77:wrong\n", encoding="utf-8")
            closed = f"http://127.0.0.1:{free_port()}"
            report = Reachability(Clock()).report(config(standin.base_url, closed, token_file))
            assert report["telegram"]["reachable"] is False
            assert report["telegram"]["detail"].startswith("HTTP 4")
            assert report["alertmanager"] == {"configured": True, "reachable": False,
                                              "detail": "no answer (ConnectError)",
                                              "checked_at": 1_000.0}
            assert "77:" not in str(report)
    finally:
        standin.close()
    off = Reachability(Clock()).report(config(None, None))
    assert off["telegram"] == off["alertmanager"] == {
        "configured": False, "reachable": None, "detail": "not configured", "checked_at": None}


def test_an_answer_is_kept_for_the_ttl_then_checked_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    sick = ScriptedServer([503])
    try:
        clock = Clock()
        reach = Reachability(clock)
        base = f"http://127.0.0.1:{sick.port}"
        first = reach.report(config(None, base))["alertmanager"]
        assert (first["reachable"], first["detail"]) == (False, "HTTP 503")
        clock.now += TTL - 1
        assert reach.report(config(None, base))["alertmanager"] == first
        assert [path for _, path, _, _ in sick.requests] == ["/-/healthy"]
        clock.now += 2  # past the TTL: asked again, and it answers 200 now
        again = reach.report(config(None, base))["alertmanager"]
        assert (again["reachable"], again["detail"]) == (True, "HTTP 200")
        assert len(sick.requests) == 2
    finally:
        sick.stop()


def test_a_target_that_never_answers_is_unreachable_after_the_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts connections and never answers (a hung proxy): false after
    TIMEOUT seconds, not a status request held for ever."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections queue; nothing ever reads or answers them
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        found = Reachability(Clock()).report(config(None, base))["alertmanager"]
    assert (found["reachable"], found["detail"]) == (False, "no answer (ReadTimeout)")
