"""``[host] bars_per_round`` applies at restart under ``zepix run`` (its replay source is
paced by it once, at start), and the config history says so instead of ``applied``
(docs/config.md, "What a change does")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runproc import Running
from tests.venvs import clean_env
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

CONFIG = "[host]\ninterval = 1\nwarmup_bars = 20\nbars_per_round = {n}\n"


def history(home: Path) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "config", "history",
                           "--json"], env=clean_env(home), capture_output=True, text=True,
                          timeout=120, check=True)
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def test_a_live_bars_per_round_change_is_recorded_for_the_restart(tmp_path: Path) -> None:
    (tmp_path / "zepix.toml").write_text(CONFIG.format(n=2), encoding="utf-8")
    run = Running(tmp_path)
    try:
        run.url()
        run.wait_rounds(1)
        (tmp_path / "zepix.toml").write_text(CONFIG.format(n=20), encoding="utf-8")
        rows = wait_until(lambda: [r for r in history(tmp_path)
                                   if r["key"] == "host.bars_per_round"], timeout=120, step=0.5)
    finally:
        assert run.stop() == 0, run.tail()
    (row,) = rows
    assert (row["old"], row["new"], row["status"]) == (2, 20, "recorded"), row
    assert str(row["reason"]).startswith("recorded, applies at restart"), row
