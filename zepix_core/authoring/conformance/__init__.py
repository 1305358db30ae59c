"""The conformance suite: checks that an installed plugin honours the contract.

Each check is a plain function of a ``Subject`` (the plugin id, a scratch
directory, the import paths) that returns ``Finding`` objects, so the pytest
plugin, ``zepix_core.testing.PluginConformance`` and any command run the same
checks. A finding names the hook, what was expected, what came back and the
fix. A check that cannot run (the plugin does not load, or lacks the optional
hook the check is about) raises ``Blocked``; the check that owns the cause
reports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from zepix_core.authoring.conformance.loading import (
    check_entry_point,
    check_hook_signatures,
    check_plugin_version,
    check_required_hooks,
    check_requires_api,
    check_settings,
)
from zepix_core.authoring.conformance.public import check_public_api
from zepix_core.authoring.conformance.subject import Blocked, Finding, Subject
from zepix_core.authoring.conformance.surface import (
    check_get_metrics,
    check_health_ping,
    check_self_test,
    check_self_test_idempotent,
)
from zepix_core.authoring.conformance.work import (
    check_config_changed,
    check_lifecycle,
    check_no_leaks,
    check_on_bar,
    check_on_fill,
    check_plugin_restarted,
    replay_bars,
)
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.hookspecs import REQUIRED_HOOKS
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins


@dataclass(frozen=True)
class SuiteCheck:
    """One conformance check: its name, the hooks it exercises and what it proves."""

    name: str
    hooks: tuple[str, ...]
    summary: str
    run: Callable[[Subject], list[Finding]]


CHECKS: tuple[SuiteCheck, ...] = (
    SuiteCheck("entry_point", (), "the entry point imports and builds the plugin object",
          check_entry_point),
    SuiteCheck("required_hooks", REQUIRED_HOOKS, "every required hook is implemented",
          check_required_hooks),
    SuiteCheck("hook_signatures", (), "every hook implementation matches its spec",
          check_hook_signatures),
    SuiteCheck("public_api", (), "imports only what zepix_core makes public",
          check_public_api),
    SuiteCheck("plugin_version", ("plugin_version",), "a valid PEP 440 version, equal to the "
          "distribution's", check_plugin_version),
    SuiteCheck("settings", ("plugin_settings",), "declared settings are well formed and "
          "leave the host's keys alone", check_settings),
    SuiteCheck("requires_api", ("plugin_version",), "requires_api parses and admits the host API",
          check_requires_api),
    SuiteCheck("health_ping", ("activate", "health_ping"), "answers ok, in shape, within its "
          "deadline", check_health_ping),
    SuiteCheck("get_metrics", ("get_metrics",), "numbers under recognised or custom names",
          check_get_metrics),
    SuiteCheck("self_test", ("self_test",), "answers in shape, and passes", check_self_test),
    SuiteCheck("self_test_idempotent", ("self_test",), "two calls give the same verdict and leave "
          "the counters alone", check_self_test_idempotent),
    SuiteCheck("on_bar", ("on_bar",), "answers every bar of a replay in time and in shape",
          check_on_bar),
    SuiteCheck("on_fill", ("on_fill",), "takes a fill of its own intent in time, without raising",
          check_on_fill),
    SuiteCheck("config_changed", ("config_changed",), "answers a change set with true or false, "
          "in time", check_config_changed),
    SuiteCheck("plugin_restarted", ("plugin_restarted",), "takes a restart notice in time, "
          "without raising", check_plugin_restarted),
    SuiteCheck("lifecycle", ("activate", "deactivate"), "activate, deactivate, activate again",
          check_lifecycle),
    SuiteCheck("no_leaks", ("activate", "on_bar", "deactivate"), "no threads, child processes or "
          "open files left after deactivate", check_no_leaks),
)

CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in CHECKS)


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: findings (failed), a reason it could not run (skipped), or passed."""

    check: str
    plugin_id: str
    findings: tuple[Finding, ...] = ()
    blocked: str | None = None
    duration: float = 0.0

    @property
    def outcome(self) -> str:
        return "failed" if self.findings else "skipped" if self.blocked else "passed"

    def report(self) -> str:
        """The findings, one per line, under a line naming plugin and check."""
        head = f"plugin '{self.plugin_id}' fails conformance check {self.check}:"
        return "\n".join([head, *(f"  {f}" for f in self.findings)])


def get_check(name: str) -> SuiteCheck:
    for check in CHECKS:
        if check.name == name:
            return check
    raise KeyError(f"no conformance check '{name}'; the checks are {', '.join(CHECK_NAMES)}")


def run_check(check: SuiteCheck | str, plugin_id: str, workdir: Path,
              paths: Sequence[str] | None = None, settle: float = 1.0,
              records: Sequence[EntryRecord] | None = None) -> CheckResult:
    """Run one check against the installed plugin ``plugin_id``, with files under ``workdir``.

    ``paths`` limits discovery to those directories (default: ``sys.path``);
    ``settle`` is how long the leak check waits for stopped work to end;
    ``records`` reuses a discovery result (``enumerate_plugins(paths)``).
    """
    check = get_check(check) if isinstance(check, str) else check
    subject = Subject(plugin_id, workdir, paths, settle, records)
    started = time.monotonic()
    try:
        findings, blocked = tuple(check.run(subject)), None
    except Blocked as exc:
        findings, blocked = (), str(exc)
    except ZepixError as exc:  # the harness refused the settings, as the host would
        findings, blocked = (), f"not run: {exc}; see the settings check"
    finally:
        subject.close()
    return CheckResult(check.name, plugin_id, findings, blocked, time.monotonic() - started)


def run_suite(plugin_id: str, workdir: Path,
              paths: Sequence[str] | None = None) -> list[CheckResult]:
    """Every check against ``plugin_id``, in order, on one discovery result."""
    records = enumerate_plugins(paths)
    return [run_check(check, plugin_id, workdir, paths, records=records) for check in CHECKS]


def exercised_hooks() -> frozenset[str]:
    """The hooks some check calls."""
    return frozenset(hook for check in CHECKS for hook in check.hooks)


__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "Blocked",
    "CheckResult",
    "Finding",
    "Subject",
    "SuiteCheck",
    "exercised_hooks",
    "get_check",
    "replay_bars",
    "run_check",
    "run_suite",
]
