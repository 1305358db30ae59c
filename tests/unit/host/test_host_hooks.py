"""The hooks between the host's subsystems (``host.hooks``) and its one scheduler
(``host.loop``): who is called, in which order, and who never is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.contract.hookspecs import hookimpl
from zepix_core.execution.runner import CallResult
from zepix_core.host.facade import of
from zepix_core.host.host import Host, create_host
from zepix_core.testing import make_bar

BASE = '[host]\ninterval = 30\n\n[http]\nlisten = ""\n'


@pytest.fixture
def host(dists: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("ZEPIX_HOME", str(tmp_path))
    monkeypatch.delenv("ZEPIX_HTTP_LISTEN", raising=False)
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    path = tmp_path / "zepix.toml"
    path.write_text(BASE, encoding="utf-8")
    made = create_host(path, tmp_path / "zepix.db", paths=[str(dists.root)])
    made.start()
    yield made
    made.shutdown()


def _reload(host: Host, text: str) -> None:
    assert host.config.path is not None
    host.config.path.write_text(text, encoding="utf-8")
    host.reconfig.force = True
    with of(host).under_loop():
        host.reconfig.poll()


def test_a_section_restarter_registered_again_replaces_the_first(host: Host) -> None:
    called: list[str] = []
    facade = of(host)
    facade.on_config_change("http", lambda: called.append("first") or "first")
    facade.on_config_change("http", lambda: called.append("second") or "restarted, second")
    _reload(host, BASE.replace('listen = ""', 'listen = "127.0.0.1:1"'))
    assert called == ["second"]  # once for the section, by the one registered last
    [change] = [c for c in host.store.config_changes() if c["key"] == "http.listen"]
    assert change["reason"] == "restarted, second"


def test_a_section_restarter_that_raises_leaves_the_change_recorded(host: Host) -> None:
    def broken() -> str:
        raise OSError("port taken")
    of(host).on_config_change("http", broken)
    _reload(host, BASE.replace('listen = ""', 'listen = "127.0.0.1:1"'))
    [change] = [c for c in host.store.config_changes() if c["key"] == "http.listen"]
    assert change["status"] == "recorded"
    assert "restarting [http] failed (port taken)" in str(change["reason"])


class Nosy:
    """An alert sink that also implements the host's own hooks (a hostile plugin)."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl
    def alert_sink(self, alert: object) -> None:
        pass

    @hookimpl
    def on_work(self, result: CallResult, problem: str | None) -> None:
        self.heard.append("on_work")

    @hookimpl
    def after_round(self) -> None:
        self.heard.append("after_round")

    @hookimpl
    def between_rounds(self) -> None:
        self.heard.append("between_rounds")

    @hookimpl
    def section_changed(self, section: str) -> str | None:
        self.heard.append("section_changed")
        return "hijacked"


def test_an_alert_sink_never_gets_the_host_s_own_hooks(host: Host) -> None:
    nosy = Nosy()
    of(host).register_sink(nosy, "nosy")
    host.feed([make_bar(1.1, ts=60.0), make_bar(1.2, ts=120.0)])
    host.round()
    host.loop.idle(time.monotonic())  # a look between rounds
    _reload(host, BASE.replace('listen = ""', 'listen = "127.0.0.1:1"'))
    assert nosy.heard == []
    [change] = [c for c in host.store.config_changes() if c["key"] == "http.listen"]
    assert change["reason"] != "hijacked"


class Partial:
    @hookimpl
    def on_work(self, result: CallResult) -> None:
        pass


def test_a_per_call_hook_taking_fewer_arguments_is_refused_by_name(host: Host) -> None:
    with pytest.raises(TypeError, match="^partial: on_work must take result, problem$"):
        host.hooks.register(Partial(), "partial")


class Counted:
    def __init__(self) -> None:
        self.answers: list[tuple[str, int]] = []
        self.looks = 0
        self.rounds = 0

    @hookimpl
    def on_answers(self, plugin_id: str, durations: list[float]) -> None:
        self.answers.append((plugin_id, len(durations)))

    @hookimpl
    def between_rounds(self) -> None:
        self.looks += 1

    @hookimpl
    def after_round(self) -> None:
        self.rounds += 1


def test_a_part_registered_on_the_hooks_hears_work_rounds_and_the_looks_between(
        host: Host) -> None:
    counted = Counted()
    host.hooks.register(counted, "counted")
    host.feed([make_bar(1.1, ts=60.0), make_bar(1.2, ts=120.0)])
    assert counted.answers == [("good", 2)]  # both on_bar calls answered in shape
    host.round()
    assert counted.rounds == 1
    start = time.monotonic()
    host.loop.timers["between_rounds"].next = start  # a look is due now
    assert host.loop.idle(start + 0.2) is False
    assert counted.looks == 1  # once, not again before POLL seconds are over


def test_a_changed_sync_table_restarts_the_ledger_sync_on_the_new_timer(host: Host) -> None:
    _reload(host, BASE + "\n[sync]\ninterval = 120\n")
    [change] = [c for c in host.store.config_changes() if c["key"] == "sync.interval"]
    assert str(change["reason"]).startswith("applied live: syncing to ")
    assert change["status"] == "applied"
    assert host.sync.interval == 120.0
    assert host.loop.timers["sync"].every == 120.0  # the scheduler's due time follows
