"""A plugin object of a class registered before is registered from its class's plan
(issue 26, item 4: 1,000 plugins of one class at start-up), and the plan never gives
an answer pluggy's own ``register`` would not: every hook implementation is the one
pluggy builds (function, bound object, argument names, options), a class changed
since, an instance that hides or adds a hook, ``__dir__`` and ``__slots__`` all go
through pluggy, and a class that is rejected stays rejected.
"""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

from zepix_core import hookimpl
from zepix_core.contract.hookspecs import PROJECT
from zepix_core.loading.discovery import EntryRecord, HostManager, LoadFailure, build_manager
from zepix_core.loading.registration import PLANS


def _record(pid: str) -> EntryRecord:
    return EntryRecord(pid, "zepix-test", "1.0.0", "mod:Plugin", "environment")


def _reference(obj: object, name: str) -> pluggy.PluginManager:
    """pluggy's own ``register`` on a manager with the same spec (no plan)."""
    pm = HostManager(PROJECT)
    pm.add_spec()
    pluggy.PluginManager.register(pm, obj, name=name)
    return pm


def _impls(pm: pluggy.PluginManager) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [(i.function, i.plugin, i.plugin_name, i.argnames, i.kwargnames, i.opts,
                    i.wrapper, i.hookwrapper, i.optionalhook, i.tryfirst, i.trylast)
                   for i in caller.get_hookimpls()]
            for name, caller in sorted(vars(pm.hook).items())
            if isinstance(caller, pluggy.HookCaller) and caller.get_hookimpls()}


def _make_class() -> type:
    class Plugin:
        def __init__(self) -> None:
            self.bars = 0

        @hookimpl
        def plugin_version(self) -> str:
            return "1.0.0"

        @hookimpl(tryfirst=True)
        def health_ping(self, now: float) -> dict[str, object]:
            return {"ok": True, "last_activity": now}

        @hookimpl(specname="get_metrics")
        def _numbers(self) -> dict[str, float]:
            return {"signals_processed": float(self.bars)}

        @staticmethod
        @hookimpl
        def self_test() -> bool:
            return True

        @classmethod
        @hookimpl
        def on_bar(cls, bar: object) -> None:
            return None

        def helper(self) -> int:  # no marker: never a hook
            return 1
    return Plugin


def test_a_second_instance_gets_the_implementations_pluggy_builds() -> None:
    cls = _make_class()
    build_manager(_record("p0"), cls())
    assert PLANS.get(cls) is not None
    for n in range(1, 4):
        obj = cls()
        obj.bars = n
        planned = build_manager(_record(f"p{n}"), obj)
        assert _impls(planned) == _impls(_reference(obj, f"p{n}"))
        assert planned.get_plugin(f"p{n}") is obj
        assert planned.hook.get_metrics() == {"signals_processed": float(n)}
        assert planned.hook.health_ping(now=5.0) == {"ok": True, "last_activity": 5.0}


def test_a_class_changed_after_its_plan_is_read_again() -> None:
    cls = _make_class()
    build_manager(_record("a"), cls())

    @hookimpl
    def on_fill(self: object, fill: object) -> None:
        return None
    cls.on_fill = on_fill  # type: ignore[attr-defined]
    obj = cls()
    planned = build_manager(_record("b"), obj)
    assert planned.hook.on_fill.get_hookimpls()
    assert _impls(planned) == _impls(_reference(obj, "b"))

    @hookimpl
    def health_ping(self: object, now: float) -> dict[str, object]:  # another function
        return {"ok": False, "last_activity": now}
    cls.health_ping = health_ping  # type: ignore[method-assign]
    obj = cls()
    planned = build_manager(_record("c"), obj)
    assert planned.hook.health_ping(now=1.0) == {"ok": False, "last_activity": 1.0}
    assert _impls(planned) == _impls(_reference(obj, "c"))


def test_an_instance_that_hides_or_adds_a_hook_is_read_by_pluggy() -> None:
    cls = _make_class()
    build_manager(_record("a"), cls())
    hiding = cls()
    hiding.on_bar = lambda bar: None  # an unmarked value on the instance
    planned = build_manager(_record("b"), hiding)
    assert not planned.hook.on_bar.get_hookimpls()
    assert _impls(planned) == _impls(_reference(hiding, "b"))

    @hookimpl
    def on_fill(fill: object) -> None:
        return None
    adding = cls()
    adding.on_fill = on_fill
    planned = build_manager(_record("c"), adding)
    assert [i.function for i in planned.hook.on_fill.get_hookimpls()] == [on_fill]
    assert _impls(planned) == _impls(_reference(adding, "c"))


def test_dir_and_slots_get_no_plan_and_a_rejected_class_stays_rejected() -> None:
    base = _make_class()

    class Listed(base):  # type: ignore[valid-type, misc]
        def __dir__(self) -> list[str]:
            return ["plugin_version", "health_ping", "_numbers", "self_test", "on_bar"]

    build_manager(_record("a"), Listed())
    assert PLANS.get(Listed) is None

    class Unknown(base):  # type: ignore[valid-type, misc]
        @hookimpl
        def on_barr(self, bar: object) -> None:
            return None

    for pid in ("u1", "u2"):
        with pytest.raises(LoadFailure, match="unknown hook"):
            build_manager(_record(pid), Unknown())
    assert PLANS.get(Unknown) is None


def _linted_class() -> type:
    base = _make_class()

    class Linted(base):  # type: ignore[valid-type, misc]
        def on_fil(self, fill: object) -> None:  # unmarked, one edit from on_fill
            return None

        def __init__(self) -> None:
            super().__init__()
            self.active = True  # data near 'activate': never a hook

    return Linted


def test_the_unmarked_hook_lint_of_an_instance_is_its_own() -> None:
    from zepix_core.loading.discovery import unmarked_hooks

    cls = _linted_class()
    first = cls()
    build_manager(_record("l0"), first)
    assert unmarked_hooks(first) == [("on_fil", "on_fill")]
    second = cls()
    build_manager(_record("l1"), second)
    assert unmarked_hooks(second) == [("on_fil", "on_fill")]  # from the class's plan

    own = cls()  # a callable of its own near a hook
    own.deactivat = lambda reason: None
    build_manager(_record("l2"), own)
    assert unmarked_hooks(own) == [("deactivat", "deactivate"), ("on_fil", "on_fill")]

    hidden = cls()  # the class's unmarked method hidden by data of the instance
    hidden.on_fil = 5
    build_manager(_record("l3"), hidden)
    assert unmarked_hooks(hidden) == []

    def self_tst(self: object) -> bool:  # the class changed: read again
        return True
    cls.self_tst = self_tst  # type: ignore[attr-defined]
    changed = cls()
    build_manager(_record("l4"), changed)
    assert unmarked_hooks(changed) == [("on_fil", "on_fill"), ("self_tst", "self_test")]
