"""The hooks between the host's subsystems, on the host's own plugin manager.

Datasette-style: a subsystem that wants to hear of something implements the hook
(``@hookimpl``) and is registered by name on the plugin manager the alert sinks
and ``snapshot_fields`` live on (``health.alerting``); nobody keeps a callback
list, a dict of callables or a hand-written fan-out. ``compose.wire`` registers
the subsystems in this order: bar accounts, supervisor, versions, trades, the
work listeners, the ledger sync; then the host adds pauses and the config
reloads. Implementations run in the order they were registered.

The per-call hooks (``on_work``, ``on_answers``) run on the feed path once per
plugin hook call, so their implementations are read from pluggy once per
registration (``Hooks.refresh``) and called from a tuple, never looked up per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pluggy

from zepix_core.contract.hookspecs import PROJECT, hookimpl, hookspec
from zepix_core.execution.runner import CallResult

__all__ = ["Hooks", "LoopSpec", "SectionRestart"]


class LoopSpec:
    """Hooks of the host's subsystems for each other (not for plugins)."""

    @hookspec
    def on_work(self, result: CallResult, problem: str | None) -> None:
        """One plugin hook call of a feed ended: ``result`` as the runner gave it,
        ``problem`` what was wrong with its answer (None: fine). Called on the thread
        that feeds, with the loop lock held, once per call: answer at once."""

    @hookspec
    def on_answers(self, plugin_id: str, durations: Sequence[float]) -> None:
        """A feed's ``on_bar`` calls of ``plugin_id`` that all answered in shape, with
        how long each took (one call per plugin per feed instead of ``on_work``)."""

    @hookspec
    def after_round(self) -> None:
        """After each round's verdicts, under the loop lock: act on them (restarts,
        version gates, the ledger sync). A ``StorageError`` ends the round's
        bookkeeping: the implementations after it wait for the next round."""

    @hookspec
    def between_rounds(self) -> None:
        """Every ``POLL`` seconds between rounds, under the loop lock: what another
        process may have written (pauses, the config file)."""

    @hookspec(firstresult=True)
    def section_changed(self, section: str) -> str | None:
        """``[section]`` of the config file changed in a running host: carry it out and
        say how, in words; None when not the implementer's section (the change then
        applies live or at the next start, as its key says)."""


Work = Callable[[CallResult, str | None], object]
Answers = Callable[[str, Sequence[float]], object]


class Hooks:
    """``LoopSpec`` on ``pm``; ``work`` and ``answers`` are the per-call implementations."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookspecs(LoopSpec)
        self.pm = pm
        self.work: tuple[Work, ...] = ()
        self.answers: tuple[Answers, ...] = ()
        #: Who registered through ``register``: only they are called (an alert sink on
        #: the same manager is a plugin, never a part of the host).
        self._own: list[str] = []

    def register(self, owner: object, name: str) -> None:
        """``owner``'s implementations, replacing those registered under ``name``."""
        if name in self._own:
            self.pm.unregister(name=name)
            self._own.remove(name)
        self.pm.register(_Part(owner), name=name)
        self._own.append(name)
        self.refresh()

    def refresh(self) -> None:
        self.work = tuple(self._impls("on_work", ("result", "problem")))
        self.answers = tuple(self._impls("on_answers", ("plugin_id", "durations")))

    def _impls(self, hook: str, args: tuple[str, ...]) -> list[Callable[..., object]]:
        """The implementations of ``hook`` in registration order, each taking ``args``."""
        found = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name not in self._own:
                continue
            if tuple(impl.argnames) != args:  # they are called by position
                raise TypeError(f"{impl.plugin_name}: {hook} must take {', '.join(args)}")
            found.append(impl.function)
        return found

    def after_round(self) -> None:
        for impl in self._impls("after_round", ()):
            impl()

    def between_rounds(self) -> None:
        for impl in self._impls("between_rounds", ()):
            impl()

    def section_changed(self, section: str) -> str | None:
        """How the first implementer that takes ``[section]`` carried its change out."""
        for impl in self._impls("section_changed", ("section",)):
            done = impl(section)
            if done is not None:
                return str(done)
        return None


#: Class -> the names of its hook implementations (``_marked``).
_MARKED: dict[type, tuple[str, ...]] = {}


def _marked(cls: type) -> tuple[str, ...]:
    """The names of ``cls``'s hook implementations (``@hookimpl``, any ``specname``),
    read from the class once: the host's own classes do not change."""
    found = _MARKED.get(cls)
    if found is None:
        found = _MARKED[cls] = tuple(name for name in dir(cls) if hasattr(
            getattr(cls, name, None), f"{PROJECT}_impl"))
    return found


class _Part:
    """Only ``owner``'s marked implementations of the manager's hooks, bound to it.
    pluggy reads every attribute ``dir`` gives of what it registers, and a subsystem
    has dozens (0.8 ms a part, nine parts at every host start; 30 us as a part); the
    names are looked up on the class, so no property of the subsystem runs."""

    def __init__(self, owner: object) -> None:
        for name in _marked(type(owner)):
            setattr(self, name, getattr(owner, name))

    def __dir__(self) -> list[str]:
        """What pluggy looks at when it registers the part: its hooks, no dunders."""
        return list(vars(self))


class SectionRestart:
    """A ``section_changed`` implementation for one section: ``restart`` (returning what
    it did) restarts what serves beside the host (the HTTP server, the Telegram bot)."""

    def __init__(self, section: str, restart: Callable[[], str]) -> None:
        self.section = section
        self.restart = restart

    @hookimpl
    def section_changed(self, section: str) -> str | None:
        return self.restart() if section == self.section else None
