"""The scene of a soak: the CSV of bars, the config and the soak's own plugins.

The plugins (one distribution, ``zepix-chaos``, on ``PYTHONPATH``):

- ``chaos_count`` writes the time of every 1m bar it is offered, one line per
  bar, to ``seen-<host pid>.txt``: the soak's own witness of what one plugin
  was offered, independent of the host's accounting;
- ``chaos_worker`` runs in a worker process (``isolation = "process"``), which
  ``worker_kill`` kills;
- ``chaos_hang`` blocks in ``on_bar`` and ``health_ping`` while its flag file
  exists (``hang``): the hostile one.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

#: Seconds between two bars of the CSV source (``pace``).
PACE = 0.02

CONFIG = """\
[host]
interval = 1

[sync]
interval = 5
{sync}
{alerts}
[plugins.chaos_worker]
isolation = "process"
max_restarts = 1000
restart_backoff = 0.2

[plugins.chaos_hang]
flag = "{flag}"
"""

PLUGINS = '''
import os, time
from zepix_core import hookimpl


class Base:
    def __init__(self):
        self.bars = 0

    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0,<2", "requires": {}}

    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": self.bars}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        self.config = dict(config)

    @hookimpl
    def deactivate(self, reason):
        pass

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        return None


class Count(Base):
    """Writes the time of every 1m bar it is offered, one line each, per host pid."""

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        if bar.timeframe != "1m":  # the source's 5m, 15m and 1h aggregates
            return None
        self.unwritten = getattr(self, "unwritten", "") + f"{bar.ts:.0f}\\n"
        path = os.path.join(os.environ["ZEPIX_HOME"], f"seen-{os.getpid()}.txt")
        size = os.path.getsize(path) if os.path.exists(path) else 0
        try:  # a full disk (the soak's full_disk): the lines wait for the next bar
            with open(path, "a") as out:
                out.write(self.unwritten)
            self.unwritten = ""
        except OSError:  # a full disk may have taken the first bytes: drop them
            try:
                os.truncate(path, size)
            except OSError:
                pass
        return None


class Worker(Base):
    """Runs in a worker process (isolation = "process"); the soak kills it."""


class Hang(Base):
    """Blocks in on_bar and health_ping while its flag file exists."""

    def _wait(self):
        flag = getattr(self, "config", {}).get("flag")
        while flag and os.path.exists(flag):
            time.sleep(0.05)

    @hookimpl
    def health_ping(self, now):
        self._wait()
        return {"ok": True, "last_activity": time.time()}

    @hookimpl
    def on_bar(self, bar):
        self._wait()
        self.bars += 1
        return None
'''

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def write_scene(home: Path, site: Path, csv: Path, flag: Path, rng: random.Random,
                seconds: float, sync_url: str | None, alerts_url: str | None) -> int:
    """Write the data directory's config, the plugins and the CSV (enough bars for
    ``seconds`` at ``PACE``); returns the time of the CSV's first bar."""
    home.mkdir(parents=True)
    site.mkdir(parents=True)
    info = site / "zepix_chaos-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zepix-chaos\n"
                                   "Version: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[zepix.plugins]\nchaos_count = zepix_chaos:Count\n"
        "chaos_worker = zepix_chaos:Worker\nchaos_hang = zepix_chaos:Hang\n",
        encoding="utf-8")
    (site / "zepix_chaos.py").write_text(textwrap.dedent(PLUGINS), encoding="utf-8")
    sync = f'url = "{sync_url}"\n' if sync_url else ""
    alerts = (f'[alerts]\nalertmanager_url = "{alerts_url}"\n'
              "alertmanager_resend = 5\n" if alerts_url else "")
    (home / "zepix.toml").write_text(CONFIG.format(flag=flag, sync=sync, alerts=alerts),
                                     encoding="utf-8")
    start = 1_700_000_000 - 1_700_000_000 % 60
    price = 1.1
    rows = ["time,open,high,low,close,volume"]
    for n in range(int(seconds / PACE * 1.5) + 1000):
        move = rng.uniform(-0.0005, 0.0005)
        close = max(0.5, price + move)
        high, low = max(price, close) + 0.0001, min(price, close) - 0.0001
        rows.append(f"{start + 60 * n},{price:.5f},{high:.5f},{low:.5f},{close:.5f},1")
        price = close
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return start
