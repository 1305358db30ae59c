"""The kit on the command line: ``zepix run --once --strict`` exits 1 when a plugin is
not ACTIVE and HEALTHY; ``zepix plugins`` without a host lints hook names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.distfactory import good_plugin


def zepix(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
           "PYTHONPATH": str(tmp_path / "site"), "ZEPIX_HTTP_LISTEN": "127.0.0.1:0"}
    return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def install(tmp_path: Path, pid: str, source: str) -> None:
    site = tmp_path / "site"
    info = site / f"zepix_{pid}-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zepix-{pid}\n"
                                   "Version: 1.0.0\n")
    (info / "entry_points.txt").write_text(f"[zepix.plugins]\n{pid} = {pid}_mod:Plugin\n")
    (site / f"{pid}_mod.py").write_text(textwrap.dedent(source))


def test_once_strict_fails_on_a_rejected_plugin(tmp_path: Path) -> None:
    install(tmp_path, "picky", good_plugin(api=">=99"))
    args = ("run", "--once", "--source-option", "steps=5")
    lenient = zepix(tmp_path, *args)
    assert lenient.returncode == 0, lenient.stderr
    strict = zepix(tmp_path, *args, "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    lines = [line for line in strict.stderr.splitlines() if line.startswith("strict: ")]
    assert lines and lines[0].startswith("strict: picky: REJECTED (")
    assert ">=99" in lines[0]
    alone = zepix(tmp_path, "run", "--strict")
    assert alone.returncode == 2 and "--strict goes with --once" in alone.stderr


def test_plugins_without_a_host_warns_of_unmarked_hooks(tmp_path: Path) -> None:
    source = good_plugin() + """
    def on_fil(self, fill):
        return None
"""
    install(tmp_path, "forgetful", source)
    done = zepix(tmp_path, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    import json

    row = {r["id"]: r for r in json.loads(done.stdout)}["forgetful"]
    assert "warning: method(s) on_fil (like on_fill) not marked @hookimpl" in row["reason"]
