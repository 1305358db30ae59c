"""examples/bot.py runs as documented: its output is the one examples/README.md shows,
and afterwards ``zepix health`` has the host's figures from its fills."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT


@pytest.mark.slow
def test_the_example_bot_prints_what_its_readme_shows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"), "PATH": "/usr/bin",
           "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}  # a free port: never the default 8787
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "bot.py"), "bars.csv"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    readme = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```text\n(.*?)```", readme, re.DOTALL)
    assert shown, "examples/README.md lost its output block"
    assert done.stdout == shown.group(1), "examples/README.md shows other output; update it"
    health = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "health", "--json"],
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    measured = {s["plugin_id"]: s["host_measured"] for s in json.loads(health.stdout)}
    assert measured["combined_v3"]["fills"] > 0
    assert all(m["win_rate"] is not None and m["signal_accuracy"] is not None
               and m["orders_per_hour"] is not None for m in measured.values())


@pytest.mark.slow
def test_the_twenty_line_bot_of_the_embedding_guide_runs(tmp_path: Path) -> None:
    from zepix_core.market.csvfile import write_csv
    from zepix_core.market.replay import MarketReplay

    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    first = re.search(r"```python\n(.*?)```", guide, re.DOTALL)
    assert first, "docs/embedding.md lost its first example"
    assert len(first.group(1).splitlines()) <= 20
    (tmp_path / "bot.py").write_text(first.group(1), encoding="utf-8")
    replay = MarketReplay(symbols=["BTCUSD", "ETHUSD"])
    write_csv(tmp_path / "bars.csv", (b for _ in range(600) for b in replay.next_bars()))
    home = tmp_path / "home"
    env = {"ZEPIX_HOME": str(home), "PATH": "/usr/bin", "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}
    done = subprocess.run([sys.executable, "bot.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and all(" HEALTHY " in line for line in lines)
    assert not any(line.endswith(" None") for line in lines[:1])  # combined_v3 traded
