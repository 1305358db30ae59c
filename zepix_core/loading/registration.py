"""Registering a plugin object whose class pluggy has validated already (issue 26,
item 4: 1,000 plugins of one class at start-up).

``PluginManager.register`` reads every attribute of the object statically, builds
a ``HookImpl`` per marked method and checks each against its spec: about 0.45 ms
a plugin, the same work for every instance of a class. After a class's first
instance registered through pluggy, the hook implementations it got are kept as
a plan (hook, function, options); a later instance of the class is registered
from the plan, the same ``HookImpl`` objects pluggy would build, when nothing
could make pluggy's reading differ:

- the class and every base (``object`` aside) hold the very same attributes as
  when the plan was made, each function carrying the same hook marker (a class
  changed since, by anyone, or a marker added, removed or edited, is read again);
- no class defines ``__dir__`` or ``__slots__``;
- the instance's own ``__dict__`` neither hides a hook attribute of its class
  nor holds a hook of its own.

Anything else, and a pluggy without the internals used here, goes through
``register`` as before.
"""

from __future__ import annotations

import functools
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import pluggy

from zepix_core.contract.hookspecs import PROJECT

_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_DICT = type.__dict__["__dict__"].__get__

#: The pluggy internals the plan needs; without them every plugin goes through pluggy.
_USABLE = all(hasattr(pluggy.HookCaller, name) for name in ("_add_hookimpl",
                                                             "_maybe_apply_history"))

#: The fields of ``pluggy.HookImpl`` set here as its ``__init__`` does, without reading
#: the function's signature again (``varnames``: the same for every instance).
_FIELDS = ("argnames", "function", "hookwrapper", "kwargnames", "optionalhook", "opts",
           "plugin", "plugin_name", "tryfirst", "trylast", "wrapper")
_SLOTS = tuple(sorted(getattr(pluggy.HookImpl, "__slots__", ()))) == _FIELDS

#: (hook name, function, bound to each instance, the marker's options, argnames,
#: kwargnames)
_Impl = tuple[str, object, bool, dict[str, object], object, object]


#: One class of an MRO as it was: the class, its attribute names, their values, and
#: the hook markers of those that can carry one (``_markers``).
_Class = tuple[type, tuple[str, ...], tuple[object, ...], tuple[object, ...]]
#: What pluggy's reading of a class's instances depends on (``class_state``).
ClassState = tuple[_Class, ...]

_MARK = f"{PROJECT}_impl"
_HOLDERS = (types.FunctionType, types.MethodType, staticmethod, classmethod)


@dataclass(frozen=True)
class Plan:
    """What a class's instance registered as, and the class as it was then."""

    classes: ClassState
    attrs: frozenset[str]
    impls: tuple[_Impl, ...]


def _markers(values: tuple[object, ...]) -> tuple[object, ...]:
    """The hook marker each value carries where pluggy reads it (on a function, a
    static or class method, or its ``__func__``), copied so that a marker edited in
    place differs; None for a value that carries none."""
    found: list[object] = []
    for value in values:
        if not isinstance(value, _HOLDERS):
            found.append(None)
            continue
        marks = (getattr(value, _MARK, None), getattr(getattr(value, "__func__", None), _MARK, None))
        found.append(tuple(dict(m) if isinstance(m, dict) else m for m in marks))
    return tuple(found)


def class_state(cls: type) -> ClassState | None:
    """Each class of ``cls``'s MRO but ``object`` with its attribute names, values and
    hook markers, or None when pluggy's reading could depend on more than these."""
    found = []
    for klass in _TYPE_MRO(cls):
        if klass is object:
            continue
        attrs = _TYPE_DICT(klass)
        if "__dir__" in attrs or "__slots__" in attrs:
            return None
        values = tuple(attrs.values())
        found.append((klass, tuple(attrs), values, _markers(values)))
    return tuple(found)


def unchanged(state: ClassState, cls: type) -> bool:
    """Whether ``cls`` is as ``state`` (``class_state``) saw it: the same classes holding
    the very same attributes, with equal hook markers."""
    try:
        mro = [k for k in _TYPE_MRO(cls) if k is not object]
        if len(mro) != len(state):
            return False
        for klass, (known, names, values, marks) in zip(mro, state, strict=True):
            attrs = _TYPE_DICT(klass)
            if klass is not known or len(attrs) != len(names) or tuple(attrs) != names:
                return False
            if any(a is not b for a, b in zip(attrs.values(), values, strict=True)):
                return False
            if _markers(values) != marks:
                return False
    except Exception:  # noqa: BLE001 - a marker that cannot be read or compared: read again
        return False
    return True


def _unchanged(plan: Plan, cls: type) -> bool:
    return unchanged(plan.classes, cls)


def _own(obj: object) -> dict[str, object]:
    try:
        found = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return {}
    return found if isinstance(found, dict) else {}


class Plans:
    """The plans by class (weakly: a class that goes away takes its plan)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref[type], Plan]] = {}
        #: ``unmarked_hooks`` of the class's instances, when it holds for every instance.
        self._lint: dict[int, tuple[Plan, tuple[tuple[str, str], ...]]] = {}
        self._lock = threading.Lock()

    def get(self, cls: type) -> Plan | None:
        entry = self._by_id.get(id(cls))
        return entry[1] if entry is not None and entry[0]() is cls else None

    def remember(self, pm: pluggy.PluginManager, plugin: object,
                 parse: Callable[[object, str], object]) -> None:
        """After ``pm`` registered ``plugin`` through pluggy: keep its class's plan."""
        cls = type(plugin)
        try:
            classes = class_state(cls)
            if classes is None or not _USABLE:
                return
            own = _own(plugin)
            attrs = frozenset(n for n in dir(plugin) if n not in own and parse(plugin, n) is not None)
            if any(parse(plugin, n) is not None for n in own):
                return  # hooks of the instance's own: nothing to share
            impls: list[_Impl] = []
            for hook_name, caller in vars(pm.hook).items():
                if not isinstance(caller, pluggy.HookCaller):
                    continue
                for impl in caller.get_hookimpls():
                    if impl.plugin is not plugin:
                        continue
                    function: object = impl.function
                    bind = isinstance(function, types.MethodType) and function.__self__ is plugin
                    if bind:
                        function = function.__func__  # type: ignore[attr-defined]
                    impls.append((hook_name, function, bind, dict(impl.opts), impl.argnames,
                                  impl.kwargnames))
            ref = weakref.ref(cls, functools.partial(self._forget, id(cls)))
        except Exception:  # noqa: BLE001 - an odd class: pluggy reads every instance
            return
        with self._lock:
            self._by_id[id(cls)] = (ref, Plan(classes, attrs, tuple(impls)))

    def _forget(self, key: int, _: object) -> None:
        with self._lock:
            self._by_id.pop(key, None)
            self._lint.pop(key, None)

    def lint(self, obj: object, candidate: Callable[[str], bool],
             judge: Callable[[str], tuple[str, str] | None]) -> list[tuple[str, str]] | None:
        """The unmarked-hook lint of an earlier instance of ``obj``'s class, when it holds
        for ``obj`` too (the class unchanged, no class name hidden by the object's own);
        the object's own ``candidate`` names are ``judge``d here."""
        cls = type(obj)
        known = self._lint.get(id(cls))
        if known is None or self.get(cls) is not known[0] or not _unchanged(known[0], cls):
            return None
        own = [n for n in _own(obj) if isinstance(n, str) and candidate(n)]
        if any(_in_class(cls, n) for n in own):
            return None
        found = [*known[1], *(pair for n in own if (pair := judge(n)) is not None)]
        return sorted(found)

    def remember_lint(self, obj: object, candidates: list[str],
                      found: list[tuple[str, str]]) -> None:
        """Keep what ``found`` says of ``obj``'s class names when that cannot depend on
        the instance: each is a function of a class (marked or not), none hidden."""
        cls = type(obj)
        plan = self.get(cls)
        if plan is None or not _unchanged(plan, cls):
            return
        own = _own(obj)
        for name in candidates:
            held = _in_class(cls, name)
            if name in own:
                if held:
                    return
            elif not isinstance(held, (types.FunctionType, staticmethod, classmethod)):
                return
        with self._lock:
            self._lint[id(cls)] = (plan, tuple(pair for pair in found if pair[0] not in own))

    def register(self, pm: pluggy.PluginManager, plugin: object, name: str,
                 parse: Callable[[object, str], object]) -> bool:
        """Register ``plugin`` on the fresh ``pm`` from its class's plan; False (``pm``
        untouched) when there is none or it may not hold for this object."""
        cls = type(plugin)
        plan = self.get(cls)
        registry = getattr(pm, "_name2plugin", None)
        if plan is None or not isinstance(registry, dict) or registry or not _USABLE:
            return False
        if not _unchanged(plan, cls):
            return False
        own = _own(plugin)
        if any(n in plan.attrs or parse(plugin, n) is not None for n in own):
            return False
        impls = [(impl[0], _impl(plugin, name, impl)) for impl in plan.impls]
        registry[name] = plugin
        for hook_name, impl in impls:
            caller = getattr(pm.hook, hook_name, None)
            if caller is None:
                caller = pluggy.HookCaller(hook_name, pm._hookexec)
                setattr(pm.hook, hook_name, caller)
            caller._maybe_apply_history(impl)
            caller._add_hookimpl(impl)
        return True


def _in_class(cls: type, name: str) -> object:
    """The value ``name`` has in the first class of ``cls``'s MRO holding it, or None."""
    return next((_TYPE_DICT(k)[name] for k in _TYPE_MRO(cls) if name in _TYPE_DICT(k)), None)


def _impl(plugin: object, name: str, known: _Impl) -> pluggy.HookImpl:
    """The ``HookImpl`` pluggy's ``register`` builds for ``plugin`` (see ``_FIELDS``)."""
    _, function, bind, opts, argnames, kwargnames = known
    method = types.MethodType(function, plugin) if bind else function  # type: ignore[arg-type]
    if not _SLOTS:
        return pluggy.HookImpl(plugin, name, method, opts.copy())  # type: ignore[arg-type]
    impl = pluggy.HookImpl.__new__(pluggy.HookImpl)
    for field, value in (("function", method), ("argnames", argnames),
                         ("kwargnames", kwargnames), ("plugin", plugin),
                         ("opts", opts.copy()), ("plugin_name", name),
                         ("wrapper", opts["wrapper"]), ("hookwrapper", opts["hookwrapper"]),
                         ("optionalhook", opts["optionalhook"]),
                         ("tryfirst", opts["tryfirst"]), ("trylast", opts["trylast"])):
        object.__setattr__(impl, field, value)
    return impl


PLANS = Plans()
