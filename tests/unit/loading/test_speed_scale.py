"""The start-up and round fast paths answer exactly what the slow paths did.

Each cache here (hook markers per plugin class, the plugin database checked
once per change, saved database counts read once per change) must never serve
an answer the slow path would not give.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pluggy

from zepix_core import hookimpl
from zepix_core.contract.hookspecs import PROJECT, PluginSpec
from zepix_core.loading.discovery import HostManager
from zepix_core.plugindb import PluginDatabase, health_fields, prepare


class Base:
    @hookimpl
    def health_ping(self) -> dict[str, Any]:
        return {"status": "HEALTHY"}

    @hookimpl(specname="get_metrics")
    def _numbers(self) -> dict[str, float]:
        return {"a": 1.0}

    def helper(self) -> int:  # no marker: never a hook
        return 1


class Child(Base):
    @hookimpl
    def health_ping(self) -> dict[str, Any]:
        return {"status": "DEGRADED"}

    @staticmethod
    @hookimpl
    def plugin_version() -> dict[str, Any]:
        return {"version": "1"}


class Slotted:
    __slots__ = ("health_ping",)

    def __init__(self, fn: Any) -> None:
        self.health_ping = fn


def _impls(pm: pluggy.PluginManager) -> dict[str, list[tuple[str, Any]]]:
    return {name: [(i.function.__qualname__, i.opts) for i in caller.get_hookimpls()]
            for name, caller in vars(pm.hook).items()
            if isinstance(caller, pluggy.HookCaller) and caller.get_hookimpls()}


def _both(obj_factory: Any) -> tuple[pluggy.PluginManager, pluggy.PluginManager]:
    slow = pluggy.PluginManager(PROJECT)
    slow.add_hookspecs(PluginSpec)
    slow.register(obj_factory(), name="p")
    fast = HostManager(PROJECT)
    fast.add_spec()
    fast.register(obj_factory(), name="p")
    return slow, fast


def test_the_host_manager_registers_what_pluggy_registers() -> None:
    for factory in (Base, Child, Base, Child):  # twice: the second time from the cache
        slow, fast = _both(factory)
        assert _impls(fast) == _impls(slow) and _impls(fast)
        assert sorted(n for n, c in vars(fast.hook).items() if isinstance(c, pluggy.HookCaller)
                      and c.spec) == sorted(n for n, c in vars(slow.hook).items()
                                            if isinstance(c, pluggy.HookCaller) and c.spec)
        assert fast.hook.health_ping(now=0.0) == slow.hook.health_ping(now=0.0)


def test_a_hook_on_the_instance_is_read_from_the_instance_not_the_class_cache() -> None:
    HostManager(PROJECT).register(Base(), name="warm")  # the class cache holds Base now

    @hookimpl
    def own_ping() -> dict[str, Any]:
        return {"status": "UNHEALTHY"}

    obj = Base()
    obj.health_ping = own_ping  # type: ignore[method-assign]
    fast = HostManager(PROJECT)
    fast.add_spec()
    fast.register(obj, name="p")
    assert fast.hook.health_ping(now=0.0) == {"status": "UNHEALTHY"}


def test_slots_are_read_per_instance() -> None:
    @hookimpl
    def one() -> dict[str, Any]:
        return {"status": "HEALTHY"}

    def unmarked() -> dict[str, Any]:
        return {"status": "UNHEALTHY"}

    fast = HostManager(PROJECT)
    fast.add_spec()
    fast.register(Slotted(one), name="a")
    other = HostManager(PROJECT)
    other.add_spec()
    other.register(Slotted(unmarked), name="b")
    assert fast.hook.health_ping(now=0.0) == {"status": "HEALTHY"}
    assert other.hook.health_ping(now=0.0) is None


def test_prepare_creates_no_file_and_checks_a_changed_one_again(tmp_path: Path) -> None:
    path = tmp_path / "zepix_p.db"
    assert prepare(PluginDatabase(path)) is None
    assert not path.exists()  # the plugin creates it on first use
    db = PluginDatabase(path)
    db.record_signal("X", "a")
    db.close()
    assert prepare(PluginDatabase(path)) is None
    path.write_bytes(b"not sqlite any more " * 400)  # damaged after it passed
    reason = prepare(PluginDatabase(path))
    assert reason is not None and "corrupt" in reason


def test_saved_counts_follow_every_write_of_the_plugins_process(tmp_path: Path) -> None:
    path = tmp_path / "zepix_w.db"
    host_side = PluginDatabase(path)  # never opened here: a worker's plugin
    assert health_fields(host_side)["db_queries"] is None
    seen = set()
    for signals in range(1, 4):
        worker = PluginDatabase(path)  # the plugin's own process: its counts start at 0
        for _ in range(signals):
            worker.record_signal("X", "s")
        worker.close()  # saves its counts to the file
        with sqlite3.connect(path) as conn:
            saved = conn.execute("SELECT queries FROM db_stats").fetchone()[0]
        fields = health_fields(host_side)
        assert fields["db_queries"] == saved
        assert health_fields(host_side) == fields  # unchanged file: same answer
        seen.add(saved)
    assert len(seen) == 3  # each write changed the counts, and each was read
    assert not host_side.opened


def test_dumps_plain_writes_what_the_strict_walk_writes() -> None:
    from zepix_core.contract import jsondoc

    cases: list[Any] = [
        {"plugin_id": "p", "status": "HEALTHY", "latency_ms": {"p50": 1.5, "p99": None},
         "reasons": ["a", "b"], "metrics": {"x": 1, "y": 2.25}, "nested": [[1, 2], (3, 4)]},
        {"bad": float("nan"), "worse": [float("inf"), -float("inf")]},
        {True: 1, None: 2, 3: "three", 1.5: "x"},  # keys the walk prints as str()
        {"s": "true", "t": '"false": x', "u": True, "v": False, "w": None},
        {"obj": Path("/tmp/x"), "set": {1}},
        "plain string", 3, 2.5, None, [],
    ]
    for case in cases:
        assert jsondoc.dumps_plain(case) == jsondoc.dumps(case), case
