"""One plugin's way from entry point to active and back: load, read metadata, activate, deactivate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from zepix_core.contract.errors import PluginError, ZepixError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import PluginContext, PluginState
from zepix_core.execution.runner import CallResult, Clock, InProcessRunner, Runner, call
from zepix_core.loading.config import HOST_PLUGIN_KEYS, PluginConfig
from zepix_core.loading.discovery import EntryRecord, LoadFailure, load_plugin
from zepix_core.loading.paths import plugin_data_dir
from zepix_core.loading.resolution import PluginMeta, parse_meta
from zepix_core.loading.settings import Setting, apply_settings, parse_settings
from zepix_core.plugindb import PluginDatabase, database_file, prepare

#: Builds the runner for one plugin; raises ``LoadFailure`` when it cannot be loaded.
RunnerFactory = Callable[[EntryRecord, PluginConfig], Runner]
#: Checks a plugin whose metadata was read against the active plugins; fails the slot
#: (``PluginSlot.fail``) when it may not join them.
Admit = Callable[["PluginSlot"], None]


def inprocess_runner(record: EntryRecord, config: PluginConfig) -> Runner:
    return InProcessRunner(record.plugin_id, load_plugin(record))


@dataclass
class PluginSlot:
    """Everything the host knows about one discovered plugin."""

    record: EntryRecord
    config: PluginConfig
    state: PluginState = PluginState.DISCOVERED
    reason: str | None = None
    runner: Runner | None = None
    meta: PluginMeta | None = None
    note: str | None = None
    activation_id: int | None = None
    database: PluginDatabase | None = None
    extra: dict[str, object] = field(default_factory=dict)
    #: Declared by ``plugin_settings`` (None: read not yet, or nothing declared).
    settings: tuple[Setting, ...] | None = None
    #: The declared settings' values from the config table, typed, defaults filled in.
    values: dict[str, object] = field(default_factory=dict)
    settings_read: bool = False

    @property
    def plugin_id(self) -> str:
        return self.record.plugin_id

    @property
    def version(self) -> str:
        return self.record.dist_version

    def fail(self, state: PluginState, cause: str) -> None:
        """Move to ``state`` with a reason naming plugin, distribution and cause."""
        self.state = state
        self.reason = f"{self.record.label}: {cause}"

    def add_note(self, text: str) -> None:
        """A warning shown as the reason while the plugin is ACTIVE."""
        self.note = text if not self.note else f"{self.note}; {text}"

    def mark(self, state: PluginState, reason: str | None) -> None:
        """Move to ``state`` with ``reason`` as it is (disabled, kept down, deactivated)."""
        self.state, self.reason = state, reason

    def release(self) -> None:
        if self.runner is not None:
            self.runner.close(timeout=0.5)
            self.runner = None
        if self.database is not None:  # in process, the plugin's own connections
            self.database.close()
            self.database = None


def load(slot: PluginSlot, factory: RunnerFactory) -> None:
    """Build the slot's runner, or record why the plugin cannot be loaded."""
    try:
        slot.runner = factory(slot.record, slot.config)
    except LoadFailure as exc:
        slot.state, slot.reason = exc.state, str(exc)
        return
    for warning in slot.runner.warnings:
        slot.add_note(warning)


def read_meta(slot: PluginSlot, result: CallResult) -> None:
    """Apply a ``plugin_version`` answer: metadata on success, ``REJECTED`` otherwise."""
    if not result.ok:
        slot.fail(PluginState.REJECTED, f"plugin_version failed: {result.error}")
        return
    try:
        slot.meta = parse_meta(result.value)
    except PluginError as exc:
        slot.fail(PluginState.REJECTED, str(exc))
        return
    if slot.meta.version != Version(slot.version):
        slot.add_note(f"version mismatch: plugin reports {slot.meta.version}, distribution "
                      f"{slot.record.distribution} is {slot.version}")


def read_settings(slot: PluginSlot, result: CallResult) -> None:
    """Apply a ``plugin_settings`` answer: check the config table against the declaration
    and keep the typed values; ``REJECTED`` with a one-line reason otherwise."""
    slot.settings_read = True
    if not result.ok:
        slot.fail(PluginState.REJECTED, f"plugin_settings failed: {result.error}")
        return
    try:
        slot.settings = parse_settings(result.value)
        if slot.settings is not None:
            slot.values = apply_settings(slot.settings, slot.config.table,
                                         where=slot.config.source, plugin_id=slot.plugin_id,
                                         host_keys=HOST_PLUGIN_KEYS)
    except ZepixError as exc:
        slot.fail(PluginState.REJECTED, str(exc))


def context_for(slot: PluginSlot, api_version: str,
                data_dir: Path | None = None) -> tuple[PluginContext, PluginDatabase]:
    """The plugin's context, and its database (the context's, as the host holds it)."""
    data = plugin_data_dir(slot.plugin_id) if data_dir is None else data_dir
    data.mkdir(parents=True, exist_ok=True)
    database = PluginDatabase(database_file(slot.plugin_id, data), slot.plugin_id)
    return PluginContext(plugin_id=slot.plugin_id, version=slot.version,
                         api_version=api_version, data_dir=str(data),
                         database=database), database


def bring_up(slot: PluginSlot, factory: RunnerFactory, api_version: str, clock: Clock, *,
             admit: Admit, data_dir: Path | None = None) -> bool:
    """The one way a plugin version starts: load it, read its metadata, admit it, activate it.

    Startup (each plugin after the batch read of metadata), restarts, upgrades,
    rollbacks, operator restarts and canaries all come through here. A step already
    done (a runner loaded, metadata read) is not repeated. Whatever fails leaves the
    slot FAILED or REJECTED with the reason and its runner released.
    """
    if slot.runner is None and slot.state is PluginState.DISCOVERED:
        load(slot, factory)
    if slot.runner is not None and slot.meta is None and slot.state is PluginState.DISCOVERED:
        read_meta(slot, call(slot.runner, "plugin_version", DEFAULT_DEADLINES["plugin_version"],
                             {}, clock))
    if slot.runner is not None and slot.state is PluginState.DISCOVERED and not slot.settings_read:
        read_settings(slot, call(slot.runner, "plugin_settings",
                                 DEFAULT_DEADLINES["plugin_settings"], {}, clock))
    if slot.state is PluginState.DISCOVERED:
        admit(slot)
    if slot.state is PluginState.DISCOVERED:
        activate(slot, api_version, clock, data_dir)
    if slot.state is not PluginState.ACTIVE:
        slot.release()
    return slot.state is PluginState.ACTIVE


def activate(slot: PluginSlot, api_version: str, clock: Clock = time.monotonic,
             data_dir: Path | None = None) -> bool:
    """Call the plugin's ``activate`` hook; a failure leaves the slot ``FAILED``.

    The plugin's database is created, migrated and checked first (in the host);
    a damaged one makes the plugin ``FAILED`` with the file named, and the
    plugin's own handle opens wherever the plugin runs (its worker, under
    process isolation).
    """
    assert slot.runner is not None
    context, database = context_for(slot, api_version, data_dir)
    problem = prepare(database)
    if problem is not None:
        slot.fail(PluginState.FAILED, problem)
        slot.release()
        return False
    slot.database = database
    kwargs = {"context": context, "config": {**slot.config.table, **slot.values}}
    result = call(slot.runner, "activate", DEFAULT_DEADLINES["activate"], kwargs, clock)
    if not result.ok:
        slot.fail(PluginState.FAILED, f"activate failed: {result.error}")
        slot.release()
        return False
    slot.state, slot.reason = PluginState.ACTIVE, slot.note
    return True


def deactivate(slot: PluginSlot, reason: str, clock: Clock = time.monotonic,
               state: PluginState = PluginState.INACTIVE) -> str | None:
    """Call ``deactivate``, stop the runner and leave the slot in ``state``; returns the
    hook's error, if any."""
    error = None
    if slot.runner is not None and slot.runner.alive():
        result = call(slot.runner, "deactivate", DEFAULT_DEADLINES["deactivate"],
                      {"reason": reason}, clock)
        error = result.error
    slot.release()
    slot.state = state
    return error
