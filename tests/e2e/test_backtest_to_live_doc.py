"""docs/backtest-to-live.md's own code runs: step 1 writes bars.csv, step 3's bot reads
that very file and trades it, and its 15m and 1h strategies get their bars (as the
backtest of step 2 gave them), so the host books their fills."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT
from tests.venvs import clean_env

DOC = (ROOT / "docs" / "backtest-to-live.md").read_text(encoding="utf-8")


def snippet(after: str, language: str) -> str:
    """The first ``language`` block after the heading ``after``."""
    found = re.search(rf"{re.escape(after)}.*?```{language}\n(.*?)```", DOC, re.DOTALL)
    assert found, (after, language)
    return found.group(1)


def test_the_bot_of_step_3_trades_the_file_of_step_1(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "zepix.toml").write_text(  # the strategies of step 2 only
        "[plugins.price_action_1m]\nenabled = false\n[plugins.price_action_5m]\n"
        "enabled = false\n", encoding="utf-8")
    step1 = snippet("## 1. Bars in a CSV file", "sh")
    body = step1.split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
    assert "30 * 1440" in body
    env = clean_env(home, ZEPIX_HTTP_LISTEN="127.0.0.1:0")
    for code in (body.replace("30 * 1440", "2 * 1440"), snippet("## 3. Live", "python")):
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "health", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    fills = {s["plugin_id"]: s["host_measured"]["fills"] for s in json.loads(done.stdout)}
    assert set(fills) == {"combined_v3", "price_action_15m", "price_action_1h"}
    assert all(n > 0 for n in fills.values()), fills
