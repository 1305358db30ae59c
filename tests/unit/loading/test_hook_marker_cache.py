"""The hook markers a plugin class is registered with are read again when the class
changed since an earlier instance registered (issue 26): the per-class caches
(``discovery._Classes``, the registration plan) must never answer what the class
said before. A marker added to or removed from a function the class already
held, or an attribute replaced by an unmarked one, is what pluggy's own reading
of the object says at the next registration.
"""

from __future__ import annotations

from typing import Any

import pluggy

from zepix_core import hookimpl
from zepix_core.contract.hookspecs import PROJECT
from zepix_core.loading.discovery import EntryRecord, HostManager, build_manager

MARK = f"{PROJECT}_impl"


def _record(pid: str) -> EntryRecord:
    return EntryRecord(pid, "zepix-test", "1.0.0", "mod:Plugin", "environment")


def _hooks(pm: pluggy.PluginManager) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [(i.function.__name__, i.opts) for i in caller.get_hookimpls()]
            for name, caller in sorted(vars(pm.hook).items())
            if isinstance(caller, pluggy.HookCaller) and caller.get_hookimpls()}


def _reference(obj: object) -> dict[str, list[tuple[Any, ...]]]:
    """pluggy's own ``register`` (no cache of ours) of the same object."""
    pm = HostManager(PROJECT)
    pm.add_spec()
    pluggy.PluginManager.register(pm, obj, name="reference")
    return _hooks(pm)


def _make_class() -> type:
    class Plugin:
        @hookimpl
        def plugin_version(self) -> str:
            return "1.0.0"

        @hookimpl
        def health_ping(self, now: float) -> dict[str, object]:
            return {"ok": True, "last_activity": now}

        @hookimpl
        def get_metrics(self) -> dict[str, float]:
            return {}

        @hookimpl
        def self_test(self) -> bool:
            return True

        def on_bar(self, bar: object) -> None:  # no marker yet
            return None

        @hookimpl
        def on_fill(self, fill: object) -> None:
            return None
    return Plugin


def _registered(cls: type, pid: str) -> dict[str, list[tuple[Any, ...]]]:
    obj = cls()
    found = _hooks(build_manager(_record(pid), obj))
    assert found == _reference(obj)
    return found


def test_a_marker_added_to_a_function_of_the_class_is_seen() -> None:
    cls = _make_class()
    for n in range(2):  # the first through pluggy, the second from the caches
        assert "on_bar" not in _registered(cls, f"before{n}")
    hookimpl(cls.on_bar)  # type: ignore[attr-defined]  # marks the very same function
    for n in range(2):
        assert _registered(cls, f"after{n}")["on_bar"] == [("on_bar", getattr(
            cls.on_bar, MARK))]  # type: ignore[attr-defined]


def test_a_marker_removed_or_changed_is_seen() -> None:
    cls = _make_class()
    for n in range(2):
        assert "on_fill" in _registered(cls, f"before{n}")
    delattr(cls.on_fill, MARK)  # type: ignore[attr-defined]
    for n in range(2):
        assert "on_fill" not in _registered(cls, f"removed{n}")
    hookimpl(tryfirst=True)(cls.on_fill)  # type: ignore[attr-defined]
    for n in range(2):
        [(_, opts)] = _registered(cls, f"again{n}")["on_fill"]
        assert opts["tryfirst"] is True
    getattr(cls.on_fill, MARK)["tryfirst"] = False  # type: ignore[attr-defined]  # in place
    for n in range(2):
        [(_, opts)] = _registered(cls, f"edited{n}")["on_fill"]
        assert opts["tryfirst"] is False


def test_a_marked_attribute_replaced_by_an_unmarked_one_is_seen() -> None:
    cls = _make_class()
    for n in range(2):
        assert "on_fill" in _registered(cls, f"before{n}")

    def on_fill(self: object, fill: object) -> None:
        return None
    cls.on_fill = on_fill  # type: ignore[attr-defined]
    for n in range(2):
        assert "on_fill" not in _registered(cls, f"after{n}")
