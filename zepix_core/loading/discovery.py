"""Discovery: find ``zepix.plugins`` entry points and load each plugin on its own.

Enumeration reads distribution metadata only; no plugin code runs. Loading
imports one entry point, builds the plugin object and registers it on a
plugin manager of its own, so a plugin that fails at any step leaves nothing
half-registered and every other plugin proceeds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import cast

import importlib_metadata as md
import pluggy
from packaging.utils import canonicalize_name

from zepix_core.contract.errors import PluginError, describe
from zepix_core.contract.hookspecs import PROJECT, REQUIRED_HOOKS, PluginSpec
from zepix_core.contract.model import PluginState

GROUP = "zepix.plugins"
#: A valid plugin id (contract section 1): lowercase letters, digits and _, a letter first.
PLUGIN_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class EntryRecord:
    """One plugin entry point as found in installed metadata."""

    plugin_id: str
    distribution: str
    dist_version: str
    value: str
    location: str
    state: PluginState = PluginState.DISCOVERED
    reason: str | None = None

    @property
    def label(self) -> str:
        return f"plugin '{self.plugin_id}' ({self.distribution} {self.dist_version})"

    def entry_point(self) -> md.EntryPoint:
        return md.EntryPoint(name=self.plugin_id, value=self.value, group=GROUP)


class LoadFailure(PluginError):
    """A plugin could not be loaded; carries the state it ends in."""

    def __init__(self, record: EntryRecord, state: PluginState, cause: str) -> None:
        super().__init__(f"{record.label}: {cause}", plugin_id=record.plugin_id)
        self.state = state
        self.cause = cause


def _distributions(paths: Sequence[str] | None) -> Iterable[md.Distribution]:
    seen: set[str] = set()
    found = md.distributions(path=list(paths)) if paths is not None else md.distributions()
    for dist in found:
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name and name not in seen:  # first on the path wins, as for imports
            seen.add(name)
            yield cast(md.Distribution, dist)


def enumerate_plugins(paths: Sequence[str] | None = None) -> list[EntryRecord]:
    """Every ``zepix.plugins`` entry point visible on ``paths`` (default sys.path).

    An invalid plugin id, or an id offered by two distributions, is
    ``REJECTED`` here, before any of its code runs.
    """
    records: list[EntryRecord] = []
    for dist in _distributions(paths):
        for ep in dist.entry_points.select(group=GROUP):
            records.append(EntryRecord(
                plugin_id=ep.name, distribution=dist.metadata["Name"],
                dist_version=dist.version, value=ep.value,
                location=str(getattr(dist, "_path", "")),
            ))
    by_id: dict[str, list[EntryRecord]] = defaultdict(list)
    for rec in records:
        by_id[rec.plugin_id].append(rec)
    return [_screen(rec, by_id[rec.plugin_id]) for rec in records]


def _screen(rec: EntryRecord, same_id: list[EntryRecord]) -> EntryRecord:
    if not PLUGIN_ID.match(rec.plugin_id):
        cause = ("invalid plugin id: use lowercase letters, digits and '_', "
                 "starting with a letter")
        return replace(rec, state=PluginState.REJECTED, reason=cause)
    others = sorted({r.distribution for r in same_id if r.distribution != rec.distribution})
    if others:
        cause = (f"plugin id also offered by {', '.join(others)}; "
                 "uninstall one of the distributions")
        return replace(rec, state=PluginState.REJECTED, reason=cause)
    if len(same_id) > 1:
        cause = "the distribution declares this plugin id twice; fix its entry points"
        return replace(rec, state=PluginState.REJECTED, reason=cause)
    return rec


def load_object(record: EntryRecord) -> object:
    """Import the entry point and build the plugin object (a class is instantiated)."""
    try:
        obj = record.entry_point().load()
    except Exception as exc:
        raise LoadFailure(record, PluginState.FAILED,
                          f"cannot import '{record.value}': {describe(exc)}") from exc
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise LoadFailure(record, PluginState.FAILED,
                              f"constructing {obj.__name__}() raised {describe(exc)}") from exc
    return obj


def build_manager(record: EntryRecord, obj: object) -> pluggy.PluginManager:
    """A plugin manager holding just this plugin, validated against the specs."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(PluginSpec)
    try:
        pm.register(obj, name=record.plugin_id)
    except pluggy.PluginValidationError as exc:
        raise LoadFailure(record, PluginState.REJECTED, _validation_cause(exc)) from exc
    unknown = sorted(name for name, caller in vars(pm.hook).items()
                     if isinstance(caller, pluggy.HookCaller) and caller.spec is None
                     and any(not impl.optionalhook for impl in caller.get_hookimpls()))
    if unknown:
        raise LoadFailure(record, PluginState.REJECTED,
                          f"implements unknown hook(s) {', '.join(unknown)}; "
                          f"{misspelt_hook_fix(unknown)}")
    missing = [h for h in REQUIRED_HOOKS if not getattr(pm.hook, h).get_hookimpls()]
    if missing:
        raise LoadFailure(record, PluginState.REJECTED,
                          f"missing required hook(s) {', '.join(missing)}; "
                          "implement them with @zepix_core.hookimpl")
    return pm


def hook_names() -> list[str]:
    """Every hook a plugin may implement, from the spec."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(PluginSpec)
    return sorted(name for name, caller in vars(pm.hook).items()
                  if isinstance(caller, pluggy.HookCaller) and caller.spec is not None)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance between two short names."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def near_hook(name: str, hooks: Sequence[str] | None = None, most: int = 2) -> str | None:
    """The hook ``name`` equals or is at most ``most`` edits away from, or None."""
    best = min(((_edits(name, h), h) for h in hooks or hook_names()), default=None)
    return best[1] if best is not None and best[0] <= most else None


def misspelt_hook_fix(names: Sequence[str]) -> str:
    """How to fix hook implementations whose names are no hook (never ``optionalhook``:
    that would silence the typo)."""
    fixes = []
    for name in names:
        near = near_hook(name, most=3)
        fixes.append(f"rename '{name}' to '{near}'" if near else
                     f"'{name}' is no hook: rename it to one of docs/hooks.md or drop @hookimpl")
    return "; ".join(fixes)


def unmarked_hooks(obj: object) -> list[tuple[str, str]]:
    """Public methods that look like hooks but lack ``@hookimpl``: ``(method, hook)``.

    pluggy ignores a method without the marker, so a plugin that forgot it never
    receives that hook; a name one or two edits from a hook is most likely a typo
    of one that is also unmarked.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(PluginSpec)
    hooks = hook_names()
    found = []
    try:
        names = [n for n in dir(obj) if isinstance(n, str) and not n.startswith("_")]
    except Exception:  # noqa: BLE001 - a hostile __dir__: nothing to lint
        return []
    for name in names:
        near = near_hook(name, hooks)
        if near is None or _is_marked_or_data(pm, obj, name):
            continue
        found.append((name, near))
    return found


def _is_marked_or_data(pm: pluggy.PluginManager, obj: object, name: str) -> bool:
    try:
        return pm.parse_hookimpl_opts(obj, name) is not None or not callable(getattr(obj, name))
    except Exception:  # noqa: BLE001 - an attribute that raises on access is no hook
        return True


def unmarked_warning(found: Sequence[tuple[str, str]]) -> str | None:
    """The warning for a plugin's reason when ``unmarked_hooks`` found any."""
    if not found:
        return None
    names = ", ".join(m if m == h else f"{m} (like {h})" for m, h in found)
    return (f"warning: method(s) {names} not marked @hookimpl, so the host never calls "
            "them; add @hookimpl (from zepix_core import hookimpl) or rename them")


def _validation_cause(exc: pluggy.PluginValidationError) -> str:
    text = " ".join(str(exc).split())
    return f"hook signature does not match the spec: {text}"


def load_plugin(record: EntryRecord) -> pluggy.PluginManager:
    """Load and validate one plugin; raises ``LoadFailure`` with its end state."""
    if record.state is not PluginState.DISCOVERED:
        raise LoadFailure(record, record.state, record.reason or "not loadable")
    return build_manager(record, load_object(record))
