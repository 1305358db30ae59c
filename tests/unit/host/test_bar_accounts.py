"""Every bar the host is fed is, for every plugin it knows, offered or dropped with a
reason, and the totals are in ``zepix.db`` after each round (issue 22: the chaos
soak's ``bars`` invariant for every plugin, not only its own counting one).

Defect covered: the host kept no per-plugin account of bars, so a bar that a
paused, failed or hung plugin (or one in a worker) never saw left no trace, and
the soak could check only the plugin that counted its own bars.

Each plugin here writes every bar it is offered to a file of its own (in its
worker process for ``remote``): the witness the host's counts are checked against.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import zepix_core
from tests.distfactory import DistFactory, plugin_with
from tests.waiting import wait_until
from zepix_core.testing import make_bar

WITNESS = plugin_with(header="import os, time\n", class_name="Witness", on_bar="""
    with open(self.config["out"], "a") as out:
        out.write(f"{bar.ts:.0f}\\n")
    flag = self.config.get("hang")
    while flag and os.path.exists(flag):
        time.sleep(0.02)
    return None
""")

PLUGINS = ("alpha", "remote", "held", "sleepy")


def _counts(db: Path) -> dict[tuple[str, str, str], int]:
    """The saved totals, read with sqlite3 itself (not through the host's storage)."""
    conn = sqlite3.connect(db)
    try:
        return {(p, k, d): n for p, k, d, n in
                conn.execute("SELECT plugin_id, kind, detail, bars FROM bar_counts")}
    finally:
        conn.close()


def _seen(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").split()) if path.exists() else 0


def test_every_bar_is_offered_or_dropped_with_a_reason_for_every_plugin(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-witness", "1.0.0",
              {**{p: "witness_mod:Witness" for p in PLUGINS}, "broken": "missing_mod:Nothing"},
              {"witness_mod": WITNESS})
    flag = tmp_path / "hang"
    out = {p: tmp_path / f"{p}.seen" for p in PLUGINS}
    config = tmp_path / "zepix.toml"
    extra = {"remote": 'isolation = "process"\n', "sleepy": f'hang = "{flag}"\n'}
    config.write_text("[host]\nwarmup_bars = 0\n" + "".join(
        f'[plugins.{p}]\nout = "{out[p]}"\n{extra.get(p, "")}' for p in PLUGINS),
        encoding="utf-8")
    with zepix_core.open_host(config, tmp_path / "z.db", paths=[str(dists.root)],
                              interval=3600, services=False) as host:
        inner = host.host
        inner.dispatcher.deadline = 5.0  # room for a busy machine; only sleepy misses it
        assert {p: inner.slots[p].state.value for p in (*PLUGINS, "broken")} == {
            **{p: "ACTIVE" for p in PLUGINS}, "broken": "FAILED"}
        inner.store.pause("held", "test", "test", 0.0)
        inner.refresh_pauses()

        flag.touch()  # sleepy blocks in its first bar: given up, then left out
        host.feed([make_bar(1.1, ts=60.0 * n) for n in range(1, 11)])
        host.feed([make_bar(1.1, ts=60.0 * n) for n in range(11, 16)])
        flag.unlink()
        for n in range(16, 21):  # one bar a feed, as a live source gives them
            host.on_bar(make_bar(1.1, ts=60.0 * n))
        wait_until(lambda: _seen(out["remote"]) == 20, timeout=60)
        host.round()
        counts = _counts(tmp_path / "z.db")

    fed = sum(n for (p, k, _), n in counts.items() if k == "fed")
    assert counts[("", "fed", "1m")] == fed == 20
    for plugin in (*PLUGINS, "broken"):
        offered = counts.get((plugin, "offered", ""), 0)
        dropped = {d: n for (p, k, d), n in counts.items() if p == plugin and k == "dropped"}
        assert offered + sum(dropped.values()) == fed, (plugin, offered, dropped)
        if plugin in out:  # what the host says it offered is what the plugin saw
            assert offered == _seen(out[plugin]), (plugin, offered, dropped)
    assert counts[("alpha", "offered", "")] == counts[("remote", "offered", "")] == 20
    assert counts[("held", "dropped", "paused")] == 20
    assert counts[("broken", "dropped", "failed")] == 20
    sleepy = {d: n for (p, k, d), n in counts.items() if p == "sleepy" and k == "dropped"}
    # its first bar offered (and given up on), the other 9 of that feed given up; the
    # next feed while its call still ran: left out as unresponsive (or given up)
    assert sleepy.get("given_up", 0) >= 9 and set(sleepy) <= {"given_up", "unresponsive"}
    assert sum(sleepy.values()) + counts[("sleepy", "offered", "")] == 20
