"""examples/bot.py runs as documented: its output is the one examples/README.md shows,
and afterwards ``zepix health`` has the host's figures from its fills."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_example_bot_prints_what_its_readme_shows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"), "PATH": "/usr/bin"}
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
