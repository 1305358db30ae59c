"""What every check works with: the plugin under test, findings, and shared wording."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zepix_core.authoring.harness import PluginHandle, load_record
from zepix_core.contract.errors import PluginError, ZepixError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES, PluginSpec
from zepix_core.execution.runner import CallResult
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins, load_object


@dataclass(frozen=True)
class Finding:
    """One way the plugin breaks the contract, and how to fix it."""

    hook: str
    expected: str
    got: str
    fix: str

    def __str__(self) -> str:
        return f"{self.hook}: expected {self.expected}, got {self.got}; {self.fix}"


class Blocked(ZepixError):
    """A check cannot run against this plugin; the message says why."""


class Subject:
    """The plugin a check runs against, loaded afresh for each check and closed after.

    ``settle`` is how long the leak check waits for what deactivate stopped
    to finish stopping. ``records`` is a discovery result to reuse: reading
    every installed distribution's metadata is the slow part of a check.
    """

    def __init__(self, plugin_id: str, workdir: Path, paths: Sequence[str] | None = None,
                 settle: float = 1.0, records: Sequence[EntryRecord] | None = None) -> None:
        self.plugin_id = plugin_id
        self.workdir = Path(workdir)
        self.paths = paths
        self.settle = settle
        self._records = records
        self._handles: list[PluginHandle] = []
        self._active: list[PluginHandle] = []

    def records(self) -> Sequence[EntryRecord]:
        """Every entry point discovery finds on ``paths`` (given, or looked up once)."""
        if self._records is None:
            self._records = enumerate_plugins(self.paths)
        return self._records

    def record(self) -> EntryRecord | None:
        return next((r for r in self.records() if r.plugin_id == self.plugin_id), None)

    def _loadable(self) -> EntryRecord:
        record = self.record()
        if record is None or record.reason is not None:
            raise _unloadable()
        return record

    def object(self) -> tuple[EntryRecord, object]:
        """The entry point's record and a freshly built plugin object."""
        record = self._loadable()
        try:
            return record, load_object(record)
        except PluginError as exc:
            raise _unloadable() from exc

    def load(self) -> PluginHandle:
        """A freshly loaded plugin with its own runner."""
        record = self._loadable()
        try:
            handle = load_record(record)
        except PluginError as exc:
            raise _unloadable() from exc
        self._handles.append(handle)
        return handle

    def activated(self) -> PluginHandle:
        """A freshly loaded plugin after a successful ``activate``."""
        handle = self.load()
        if not handle.activate(self.data_dir()).ok:
            raise Blocked("needs an active plugin, but activate fails; see the lifecycle check")
        self._active.append(handle)
        return handle

    def data_dir(self) -> Path:
        return self.workdir / "data" / self.plugin_id

    def close(self) -> None:
        for handle in self._active:
            handle.call("deactivate", timeout=1.0, reason="shutdown")
        for handle in self._handles:
            handle.close()


def _unloadable() -> Blocked:
    return Blocked("not run: the plugin does not load; see the entry_point, required_hooks "
                   "and hook_signatures checks")


def show(value: object) -> str:
    """A value for a message: its type and a short repr."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 80 else text[:77] + '...'}"


def spec_args() -> dict[str, tuple[str, ...]]:
    """Each plugin hook's argument names, from the specs."""
    return {name: tuple(p for p in inspect.signature(fn).parameters if p != "self")
            for name, fn in vars(PluginSpec).items() if inspect.isfunction(fn)}


def definition(hook: str) -> str:
    """``def hook(self, args)`` as the spec declares it."""
    return f"def {hook}({', '.join(('self', *spec_args()[hook]))})"


def call_problem(result: CallResult, expected: str, fix_slow: str) -> Finding | None:
    """A finding for a call that raised or missed its deadline, else None."""
    if result.timed_out:
        return Finding(result.hook, f"{expected} within {DEFAULT_DEADLINES[result.hook]:g} s",
                       f"no answer after {result.duration:.1f} s", fix_slow)
    if result.error is not None and result.error.startswith("WrongShape:"):
        # it returned, but something the host refuses to pass on
        return Finding(result.hook, expected, f"a reply the host refuses: "
                       f"{result.error.removeprefix('WrongShape: ')}",
                       f"make {result.hook} return plain data (dict, list, str, finite "
                       "numbers, bool, None); test a computed number with math.isfinite "
                       "before returning it")
    if result.error is not None:
        return Finding(result.hook, expected, f"an exception: {result.error}",
                       f"make {result.hook} return instead of raising; report trouble in "
                       "its answer (or count it under 'errors' in get_metrics)")
    return None
