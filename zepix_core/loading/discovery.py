"""Discovery: find ``zepix.plugins`` entry points and load each plugin on its own.

Enumeration reads distribution metadata only; no plugin code runs. Loading
imports one entry point, builds the plugin object and registers it on a
plugin manager of its own, so a plugin that fails at any step leaves nothing
half-registered and every other plugin proceeds.
"""

from __future__ import annotations

import functools
import re
import threading
import types
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import importlib_metadata as md
import pluggy
from packaging.utils import canonicalize_name

from zepix_core.contract.errors import PluginError, describe
from zepix_core.contract.hookspecs import PROJECT, REQUIRED_HOOKS, PluginSpec
from zepix_core.contract.model import PluginState
from zepix_core.contract.process import SignalGuard
from zepix_core.contract.stdio import plugin_output
from zepix_core.loading.registration import PLANS, ClassState, class_state, unchanged

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
        name = _key(dist)
        if name and name not in seen:  # first on the path wins, as for imports
            seen.add(name)
            yield cast(md.Distribution, dist)


def _key(dist: object) -> str:
    """The distribution's name, normalised, as ``entry_points()`` tells copies apart:
    from its ``*.dist-info`` folder's name when that says it, so that METADATA is
    parsed only for distributions with plugins (it was most of a five-plugin start
    among a hundred installed distributions: three parses each)."""
    known = getattr(dist, "_normalized_name", None)
    if isinstance(known, str) and known:
        return canonicalize_name(known)
    return canonicalize_name(cast(md.Distribution, dist).metadata.get("Name") or "")


def enumerate_plugins(paths: Sequence[str] | None = None) -> list[EntryRecord]:
    """Every ``zepix.plugins`` entry point visible on ``paths`` (default sys.path).

    An invalid plugin id, or an id offered by two distributions, is
    ``REJECTED`` here, before any of its code runs.
    """
    records: list[EntryRecord] = []
    for dist in _distributions(paths):
        points = dist.entry_points.select(group=GROUP)
        if not points:
            continue
        # Read once per distribution: each ``metadata``/``version`` parses METADATA
        # again, which was most of the start-up of 1,000 plugins from one package.
        meta = dist.metadata
        name, version = meta.get("Name"), meta.get("Version")
        if not name or not version:  # not a distribution pip could have installed
            continue
        location = str(getattr(dist, "_path", ""))
        for ep in points:
            records.append(EntryRecord(plugin_id=ep.name, distribution=name,
                                       dist_version=version, value=ep.value,
                                       location=location))
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
    """Import the entry point and build the plugin object (a class is instantiated).

    Whatever the plugin's import or constructor raises, ``SystemExit`` and
    ``KeyboardInterrupt`` included, becomes a ``LoadFailure``; only a real Ctrl-C
    (a SIGINT that arrived meanwhile) is the host's own. Signal handlers the
    plugin's code replaced are put back.
    """
    with plugin_output(record.plugin_id), SignalGuard() as guard:
        try:
            obj = record.entry_point().load()
        except BaseException as exc:  # noqa: BLE001 - plugin code: sys.exit() too
            _ours(exc, guard)
            raise LoadFailure(record, PluginState.FAILED,
                              f"cannot import '{record.value}': {describe(exc)}") from None
        if isinstance(obj, type):
            try:
                obj = obj()
            except BaseException as exc:  # noqa: BLE001 - plugin code: sys.exit() too
                _ours(exc, guard)
                raise LoadFailure(record, PluginState.FAILED,
                                  f"constructing {record.value}() raised {describe(exc)}"
                                  ) from None
    return obj


def _ours(exc: BaseException, guard: SignalGuard) -> None:
    """Re-raise a ``KeyboardInterrupt`` that a real SIGINT caused."""
    if isinstance(exc, KeyboardInterrupt) and guard.sigint:
        raise exc


class _Classes:
    """Hook markers per plugin class, read once per class (``id`` -> weakref, names).

    pluggy reads every attribute of a plugin through ``inspect.getattr_static``
    at registration (about 0.5 ms a plugin); 1,000 plugins of a few classes
    paid that 1,000 times. Only names a class provides are cached: a value on
    the instance itself (its ``__dict__``), or any class with ``__slots__`` or
    ``__dir__`` in its MRO, is read by pluggy every time. The cache holds while
    the class is as it was read (``registration.unchanged``: the same attributes,
    equal hook markers), checked once per registered object (``check``).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref[type], dict[str, object] | None,
                                     ClassState | None]] = {}
        self._lock = threading.Lock()

    def check(self, cls: type) -> None:
        """Before an instance of ``cls`` registers: forget what was read of ``cls`` if
        it changed since (an attribute set, replaced or deleted, a hook marker added,
        removed or edited on one of its functions)."""
        entry = self._by_id.get(id(cls))
        if entry is not None and (entry[2] is None or not unchanged(entry[2], cls)):
            with self._lock:
                if self._by_id.get(id(cls)) is entry:
                    del self._by_id[id(cls)]

    def names(self, cls: type) -> dict[str, object] | None:
        """The cache for ``cls`` (a name -> options dict), or None when not cacheable."""
        entry = self._by_id.get(id(cls))
        if entry is not None and entry[0]() is cls:
            return entry[1]
        try:
            state = class_state(cls)
            cacheable: dict[str, object] | None = {} if state is not None else None
            ref = weakref.ref(cls, functools.partial(self._forget, id(cls)))
        except Exception:  # noqa: BLE001 - an odd metaclass: no cache, pluggy reads
            return None
        with self._lock:
            self._by_id[id(cls)] = (ref, cacheable, state)
        return cacheable

    def _forget(self, key: int, _: object) -> None:
        with self._lock:
            self._by_id.pop(key, None)


_CLASSES = _Classes()
_UNSET = object()


class HostManager(pluggy.PluginManager):
    """pluggy's plugin manager with what every plugin shares paid once per process:
    the parsed spec (``add_spec``) and each class's hook markers."""

    def add_spec(self) -> None:
        """``add_hookspecs(PluginSpec)`` from a template parsed once (the specs are the
        same objects pluggy would build, shared read-only between managers)."""
        for name, spec in _spec_template():
            caller = pluggy.HookCaller(name, self._hookexec)
            caller.spec = spec
            setattr(self.hook, name, caller)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        if not isinstance(plugin, (type, types.ModuleType)):
            _CLASSES.check(type(plugin))  # once per object, not per name read
        return super().register(plugin, name)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        if isinstance(plugin, (type, types.ModuleType)) or name in _own_dict(plugin):
            return super().parse_hookimpl_opts(plugin, name)
        names = _CLASSES.names(type(plugin))
        if names is None:
            return super().parse_hookimpl_opts(plugin, name)
        opts = names.get(name, _UNSET)
        if opts is _UNSET:
            opts = names[name] = super().parse_hookimpl_opts(plugin, name)
        return opts


def _own_dict(obj: object) -> dict[str, object]:
    try:
        found = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return {}
    return found if isinstance(found, dict) else {}


@functools.cache
def _spec_template() -> tuple[tuple[str, Any], ...]:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(PluginSpec)
    return tuple((name, caller.spec) for name, caller in vars(pm.hook).items()
                 if isinstance(caller, pluggy.HookCaller) and caller.spec is not None)


def build_manager(record: EntryRecord, obj: object) -> pluggy.PluginManager:
    """A plugin manager holding just this plugin, validated against the specs."""
    pm = HostManager(PROJECT)
    pm.add_spec()
    try:
        with plugin_output(record.plugin_id):  # registering reads the object's attributes
            known = PLANS.register(pm, obj, record.plugin_id, pm.parse_hookimpl_opts)
            if not known:
                pm.register(obj, name=record.plugin_id)
    except pluggy.PluginValidationError as exc:
        raise LoadFailure(record, PluginState.REJECTED, _validation_cause(exc)) from exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a hostile __getattr__ or __dir__
        raise LoadFailure(record, PluginState.FAILED,
                          f"reading its hook implementations raised {describe(exc)}") from None
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
    if not known:  # validated: the next instance of its class registers from the plan
        with plugin_output(record.plugin_id):
            PLANS.remember(pm, obj, pm.parse_hookimpl_opts)
    return pm


def hook_names() -> list[str]:
    """Every hook a plugin may implement, from the spec."""
    return list(_spec_hooks())


@functools.cache
def _spec_hooks() -> tuple[str, ...]:
    # The spec is fixed for the life of the process: parsed once, not per plugin.
    return tuple(sorted(name for name, _ in _spec_template()))


#: Reads ``@hookimpl`` markers only (``parse_hookimpl_opts`` needs no spec).
_MARKERS = HostManager(PROJECT)


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
    return _near(name, tuple(hooks) if hooks else _spec_hooks(), most)


@functools.lru_cache(maxsize=4096)
def _near(name: str, hooks: tuple[str, ...], most: int) -> str | None:
    # Cached: plugins share most method names, and 1,000 plugins of one class would
    # otherwise pay the same edit distances 1,000 times at start-up. Names whose
    # lengths differ by more than ``most`` cannot be ``most`` edits apart.
    best = min(((_edits(name, h), h) for h in hooks if abs(len(h) - len(name)) <= most),
               default=None)
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
    def judge(name: str) -> tuple[str, str] | None:
        if _is_marked_or_data(_MARKERS, obj, name):
            return None
        return name, _near(name, _spec_hooks(), 2) or name

    known = PLANS.lint(obj, _candidate, judge)  # an earlier instance of its class
    if known is not None:
        return known
    try:
        names = [n for n in dir(obj) if isinstance(n, str) and not n.startswith("_")]
    except Exception:  # noqa: BLE001 - a hostile __dir__: nothing to lint
        return []
    candidates = [name for name in names if _candidate(name)]
    found = [pair for name in candidates if (pair := judge(name)) is not None]
    PLANS.remember_lint(obj, candidates, found)
    return found


def _candidate(name: str) -> bool:
    """A public name one or two edits from a hook (or a hook's): what the lint looks at."""
    return not name.startswith("_") and _near(name, _spec_hooks(), 2) is not None


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
