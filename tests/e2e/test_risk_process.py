"""Risk limits under a real ``zepix run`` process (issue 28, done when: "real processes
for pause and risk"): a plugin that closes three losing paper trades today breaches
``daily_loss_limit``; the host pauses it with the figure and the limit, alerts
CRITICAL, and its bars stop while its neighbour's go on. The figure is checked
against the plugin's database read here."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED
from tests.venvs import clean_env, one_json
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def plugin(bars: Path, losses: int) -> str:
    """The good plugin, counting its bars in ``bars``; with ``losses``, its first bars
    each close a paper trade 2.0 down (now, so in today's UTC day)."""
    hook = "    def on_bar(self, bar):\n"
    body = (f"        with open({str(bars)!r}, 'a') as out:\n"
            "            out.write('bar\\n')\n")
    if losses:
        body += (f"        if self.db is not None and self.bars < {losses}:\n"
                 "            import time\n"
                 "            t = self.db.open_trade(bar.symbol, 'buy', 1.0, 100.0, "
                 "ts=time.time() - 1)\n"
                 "            self.db.close_trade(t.id, 98.0, ts=time.time())\n")
    source = good_plugin().replace(hook, hook + body)
    return source.replace("    def activate(self, context, config):\n        self.active = True",
                          "    def activate(self, context, config):\n        self.active = True\n"
                          "        self.db = context.database")


def count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def zepix(env: dict[str, str], *args: str) -> object:
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return one_json(done.stdout)


def test_a_daily_loss_pauses_the_plugin_in_a_running_host(tmp_path: Path) -> None:
    dists = DistFactory(tmp_path / "site")
    for pid, losses in (("loser", 3), ("steady", 0)):
        dists.add(f"zepix-{pid}", "1.0.0", {pid: f"{pid}_mod:Plugin"},
                  {f"{pid}_mod": plugin(tmp_path / f"{pid}.bars", losses)})
    off = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)
    (tmp_path / "zepix.toml").write_text(
        "[host]\ninterval = 0.3\nwarmup_bars = 0\nbars_per_round = 2\n[http]\nlisten = \"\"\n"
        f"[risk]\ndaily_loss_limit = 5\n{off}", encoding="utf-8")
    env = clean_env(tmp_path, PYTHONPATH=str(dists.root))
    run = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", "run"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def paused() -> bool:
            assert run.poll() is None, run.communicate()[1]
            if not (tmp_path / "zepix.db").is_file():
                return False
            with sqlite3.connect(tmp_path / "zepix.db", timeout=30) as db:
                return bool(db.execute("SELECT 1 FROM sqlite_master WHERE name = 'pauses'")
                            .fetchall() and db.execute("SELECT 1 FROM pauses WHERE "
                                                       "plugin_id = 'loser'").fetchall())

        wait_until(paused, timeout=90, step=0.1)
        rows = zepix(env, "plugins")
        assert isinstance(rows, list)
        [row] = [r for r in rows if r["id"] == "loser"]
        assert row["paused"] is True
        with sqlite3.connect(tmp_path / "plugins" / "loser" / "zepix_loser.db") as db:
            [(loss, closed)] = db.execute("SELECT -SUM(pnl), COUNT(*) FROM trades "
                                          "WHERE status = 'closed'").fetchall()
        assert (loss, closed) == (pytest.approx(6.0), 3)
        assert row["paused_reason"] == f"risk: daily loss {loss:.2f} reached the limit 5.00"
        alerts = zepix(env, "alerts", "loser")
        assert isinstance(alerts, list)
        assert any(a["kind"] == "risk" and a["level"] == "CRITICAL" and not a["resolved"]
                   for a in alerts)
        # paused: no more bars for it, while its neighbour's go on
        before, steady = count(tmp_path / "loser.bars"), count(tmp_path / "steady.bars")
        wait_until(lambda: count(tmp_path / "steady.bars") >= steady + 12, timeout=60,
                   step=0.1)
        assert count(tmp_path / "loser.bars") <= before + 2  # a feed already handed out
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
