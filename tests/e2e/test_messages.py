"""Messages that tell the truth (issue 25): alert texts keep the figures' significant
digits ("p95 latency 1 ms > 0 ms" hid a p95 of 0.63 ms against a threshold of 0.1 ms),
self-test skips a plugin disabled on purpose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zepix_core.cli.main import main
from zepix_core.health.rules import Observation, Thresholds, figure, judge
from zepix_core.health.sketch import LatencySnapshot
from zepix_core.storage import Store


def test_figures_keep_their_significant_digits() -> None:
    assert [figure(v) for v in (0.63, 0.1, 12.5, 99.94, 6000.4, 320.0, 0.0004)] == [
        "0.63", "0.1", "12.5", "99.9", "6000", "320", "0.0004"]


def test_a_sub_millisecond_latency_breach_says_what_it_measured() -> None:
    limits = Thresholds(p95_latency_ms=0.1, error_rate=0.0001, min_calls=10)
    latency = LatencySnapshot(0.2, 0.63, 0.9, calls=10_000, errors=4, error_rate=0.0004)
    verdict = judge(Observation(alive=True, now=100.0, latency=latency), limits)
    messages = {b.kind: b.message for b in verdict.reasons}
    assert messages["latency"] == "p95 latency 0.63 ms > 0.1 ms"
    assert messages["error_rate"] == "error rate 0.04% > 0.01% (4 of 10000 calls)"


def test_self_test_skips_a_plugin_disabled_on_purpose_and_says_so(
        zepix_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (zepix_home / "zepix.toml").write_text("[plugins.price_action_5m]\nenabled = false\n",
                                           encoding="utf-8")
    capsys.readouterr()
    assert main(["self-test", "--json"]) == 0
    rows = {r["plugin_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["price_action_5m"]["skipped"] is True
    assert "disabled in config" in rows["price_action_5m"]["detail"]
    assert all(r["passed"] for pid, r in rows.items() if pid != "price_action_5m")
    assert main(["self-test"]) == 0
    assert "skipped: disabled in config (enabled = false)" in capsys.readouterr().out


def test_two_syncs_of_the_same_batch_count_its_rows_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "zepix.db")
    assert store.sync_cursor("p", "db", "sqlite:///ledger.db") == 0
    for _ in range(2):  # a timer sync and `zepix sync --now` copied it at the same time
        store.advance_sync_cursor("p", "sqlite:///ledger.db", list(range(1, 11)))
    store.advance_sync_cursor("p", "sqlite:///ledger.db", [9, 10, 11])  # a later change
    (row,) = store.sync_status()
    assert (row["rows"], row["rev"]) == (11, 11)
    store.close()


def test_install_of_a_project_that_fails_to_build_shows_pip_s_error(
        zepix_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "zx-boom"
    (project / "zx_boom").mkdir(parents=True)
    (project / "zx_boom" / "__init__.py").write_text("", encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
        encoding="utf-8")
    (project / "setup.py").write_text(
        'raise RuntimeError("zx-boom needs setuptools>=99 to build")\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["install", str(project)]) == 2
    err = capsys.readouterr().err
    assert "RuntimeError: zx-boom needs setuptools>=99 to build" in err
    assert "error: subprocess-exited-with-error" in err and "See above" not in err
