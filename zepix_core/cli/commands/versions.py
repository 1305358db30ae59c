"""``zepix install``, ``versions``, ``upgrade``, ``rollback``, ``deprecate`` and ``canary``.

Each command checks and records; a running host applies what needs a plugin
swapped within one round, and a host started later begins with the recorded
state. docs/operations.md walks through all of them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zepix_core.cli.commands.base import (
    Command,
    actor,
    await_request,
    live_host,
    show,
    store_from,
    view_config,
)
from zepix_core.cli.render import emit_json, table
from zepix_core.contract.api import API_VERSION
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.terminal import printable
from zepix_core.loading.config import Config, load_config
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.loading.paths import config_path, store_dir
from zepix_core.retry import retrier_from_config
from zepix_core.storage import HostRow, RequestRow, Store
from zepix_core.versions.policy import Recorded, VersionCommands
from zepix_core.versions.release import from_distribution
from zepix_core.versions.store import PluginStore, content_digest
from zepix_core.views.versions import version_listing

VERSION_COLUMNS = ("version", "distribution", "state", "origin", "runs", "source",
                   "first_seen", "last_active", "gate", "note")




def _operator(args: argparse.Namespace, store: Store,
              config: Config | None = None) -> VersionCommands:
    config = config or load_config(config_path(args.config))
    return VersionCommands(store, PluginStore(store_dir(store.path)), config, enumerate_plugins(),
                    API_VERSION, actor=actor())




def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (times in ISO 8601 UTC)")


# -- install ------------------------------------------------------------------
def _install_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE",
                   help="a wheel, an sdist, a project directory or a requirement "
                        "('zepix-foo==1.2.0', fetched from pip's configured index)")
    p.add_argument("--reinstall", action="store_true",
                   help="replace a version already in the store whose content differs "
                        "(refused without it)")
    p.add_argument("--no-build-isolation", dest="isolation", action="store_false",
                   help="build an sdist or a project with the host environment's build tools "
                        "(offline) instead of a fresh build environment")
    p.add_argument("--allow-other-distribution", action="store_true",
                   help="install it even though a different distribution provides one of "
                        "its plugin ids now (refused without it)")
    _json_arg(p)


def providers(store: Store, plugins: PluginStore) -> dict[str, str]:
    """plugin id -> the distribution that provides it now: the one the host last ran,
    else the environment's, else the store's."""
    found = {r.plugin_id: r.distribution for v in plugins.versions() for r in v.records}
    found.update({r.plugin_id: r.distribution for r in enumerate_plugins()})
    found.update({pid: str(row["distribution"]) for pid, row in store.statuses().items()})
    return found


#: How a SOURCE that names a file ends (anything else may be a requirement).
ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


def _check_source(source: str) -> None:
    """A missing file is "no such file", not whatever pip makes of the name."""
    path = Path(source)
    if path.exists() or "://" in source or "@" in source:  # a URL or a direct reference
        return
    if source.endswith(ARCHIVES) or os.sep in source or source.startswith("."):
        raise ZepixError(f"install: no such file: {source}")


def _install(args: argparse.Namespace) -> int:
    _check_source(args.source)
    config = load_config(config_path(args.config))
    store = store_from(args)
    try:
        # Retries of an index that is down count in `zepix retries` (store.install).
        retrier = retrier_from_config(config.sections.get("retry", {}), store,
                                      str(config.path or "<defaults>"))
        plugins = PluginStore(store_dir(args.db), retrier=retrier)
        stored = plugins.install(
            args.source, build_isolation=args.isolation, reinstall=args.reinstall,
            providers=None if args.allow_other_distribution else providers(store, plugins))
        now = time.time()
        # What its files must hash to at load, kept in the database, not in the store.
        store.record_store_digest(f"{stored.path.parent.name}/{stored.path.name}",
                                  content_digest(stored.path), now)
        for rec in stored.records:
            store.record_version(rec.plugin_id, rec.dist_version, rec.distribution,
                                 "store", now)
            store.record_release(rec.plugin_id, rec.dist_version, from_distribution(rec))
            if not stored.already:
                store.record_event(rec.plugin_id, "installed", f"{stored.distribution} "
                                   f"{stored.version} into the store from {stored.source}",
                                   now, rec.dist_version, actor())
    finally:
        store.close()
    document = {"distribution": stored.distribution, "version": stored.version,
                "path": str(stored.path), "plugins": stored.plugin_ids,
                "source": stored.source, "already": stored.already}
    if args.json:
        emit_json(document)
        return 0
    what = "already in the store" if stored.already else "installed into the store"
    out = sys.stdout
    out.write(f"{stored.distribution} {stored.version} {what}: {stored.path}\n")
    for pid in stored.plugin_ids:
        out.write(f"  plugin {pid}: available; run it with 'zepix upgrade {pid} "
                  f"{stored.version}' or try it with 'zepix canary {pid} {stored.version}'\n")
    return 0


# -- versions -----------------------------------------------------------------
def _id_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", metavar="ID", help="the plugin id")


def _versions(args: argparse.Namespace) -> int:
    store = store_from(args)
    try:
        rows = version_listing(_operator(args, store, view_config(args)), args.plugin_id)
    finally:
        store.close()
    if not rows:
        raise ZepixError(f"versions: no version of '{args.plugin_id}' is installed or "
                         "recorded; see 'zepix plugins', or add one with 'zepix install'")
    show(args, rows, VERSION_COLUMNS)
    if not args.json:
        sys.stdout.write("".join(f"{line}\n" for line in release_lines(rows)))
    return 0


def release_lines(rows: Sequence[Mapping[str, object]]) -> list[str]:
    """Under the table: what each version says about itself, release notes indented."""
    lines: list[str] = []
    seen: set[str] = set()
    for row in rows:
        facts = [(label, row.get(key)) for label, key in (
            ("commit", "commit"), ("author", "author"), ("built", "build_date"))]
        shown = [f"{label} {value}" for label, value in facts if value]
        features = row.get("features")
        if isinstance(features, list) and features:
            shown.append("features " + ", ".join(str(f) for f in features))
        notes = row.get("release_notes")
        if row["version"] in seen or not (shown or notes):
            continue
        seen.add(str(row["version"]))
        lines.append(printable(f"{row['version']}: " + ("; ".join(shown) or "no details")))
        lines += [printable(f"    {ln}") for ln in str(notes or "").splitlines() if ln.strip()]
    return ["", "Releases:", *lines] if lines else []


# -- upgrade, rollback, deprecate ---------------------------------------------
def _wait_arg(p: argparse.ArgumentParser) -> None:
    _json_arg(p)
    p.add_argument("--wait", type=float, metavar="S",
                   help="wait up to S seconds for the running host to apply it and print the "
                        "outcome; exit 1 if it did not")


def _upgrade_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", metavar="ID", help="the plugin id")
    p.add_argument("version", metavar="VERSION", help="an installed version (see 'zepix "
                   "versions ID')")
    p.add_argument("--force", action="store_true", help="allow crossing a MAJOR version")
    _wait_arg(p)


def _report(args: argparse.Namespace, store: Store, done: Recorded) -> int:
    """Print what was recorded and, with --wait, the running host's outcome."""
    host = live_host(store)
    row = store.request(done.request_id) if done.request_id is not None else None
    wait = getattr(args, "wait", None)
    if wait is not None and wait < 0:
        raise ZepixError(f"{args.command}: --wait must be >= 0 seconds")
    if row is not None and host is not None and wait is not None:
        row = await_request(store, int(row["id"]), wait)
    if done.warning:
        sys.stderr.write(f"zepix: warning: {done.warning}\n")
    pending = row is not None and row["applied_at"] is None
    if args.json:
        emit_json({**done.as_dict(), "outcome": row["outcome"] if row else None,
                   "applied": not pending, "host_pid": host["pid"] if host else None})
    else:
        _describe(done, row, host)
    return 1 if pending and host is not None and wait is not None else 0


def _describe(done: Recorded, row: RequestRow | None, host: HostRow | None) -> None:
    out = sys.stdout
    ref = f" (request {done.request_id})" if done.request_id is not None else ""
    out.write(f"{done.plugin_id}: {done.message}{ref}\n")
    if done.action == "canary_abort":
        out.write(f"the running host (pid {host['pid']}) stops the shadow worker at its next "
                  "round\n" if host is not None else "no host is running on this database; "
                  "no shadow worker runs\n")
    if row is None or row["applied_at"] is not None:
        if row is not None:
            out.write(f"outcome: {row['outcome']}\n")
        return
    if host is not None:
        out.write(f"the running host (pid {host['pid']}) applies it within one round; follow "
                  f"it with 'zepix versions {done.plugin_id}'\n")
    else:
        out.write(f"no host is running on this database; the next 'zepix run' starts with "
                  f"{done.plugin_id} {done.version}\n")




def _run(args: argparse.Namespace, action: str) -> int:
    store = store_from(args)
    try:
        operator = _operator(args, store)
        if action == "upgrade":
            done = operator.upgrade(args.plugin_id, args.version, args.force)
        elif action == "rollback":
            done = operator.rollback(args.plugin_id)
        else:
            done = operator.deprecate(args.plugin_id, args.version, args.undo)
        return _report(args, store, done)
    finally:
        store.close()


def _upgrade(args: argparse.Namespace) -> int:
    return _run(args, "upgrade")


def _rollback_args(p: argparse.ArgumentParser) -> None:
    _id_args(p)
    _wait_arg(p)


def _rollback(args: argparse.Namespace) -> int:
    return _run(args, "rollback")


def _deprecate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plugin_id", metavar="ID", help="the plugin id")
    p.add_argument("version", metavar="VERSION", help="the version to deprecate")
    p.add_argument("--undo", action="store_true", help="no longer deprecated")
    _json_arg(p)


def _deprecate(args: argparse.Namespace) -> int:
    return _run(args, "deprecate")


# -- canary -------------------------------------------------------------------
CANARY_ACTIONS = ("status", "promote", "abort")


def _canary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="+", metavar="ARG",
                   help="ID VERSION to start a canary; status|promote|abort ID")
    p.add_argument("--force", action="store_true",
                   help="allow a candidate of another MAJOR version")
    _wait_arg(p)


def _canary_words(words: Sequence[str]) -> tuple[str, str, str | None]:
    if len(words) == 2 and words[0] in CANARY_ACTIONS:
        return words[0], words[1], None
    if len(words) == 3 and words[0] == "start":
        return "start", words[1], words[2]
    if len(words) == 2:
        return "start", words[0], words[1]
    raise ZepixError("canary: use 'zepix canary ID VERSION' or 'zepix canary "
                     "status|promote|abort ID'")


def _canary(args: argparse.Namespace) -> int:
    action, plugin_id, version = _canary_words(args.words)
    store = store_from(args)
    try:
        if action == "status":
            return _canary_status(args, store, plugin_id)
        operator = _operator(args, store)
        if action == "start":
            assert version is not None
            done = operator.canary(plugin_id, version, args.force)
        else:
            done = operator.end_canary(plugin_id, promote=action == "promote")
        return _report(args, store, done)
    finally:
        store.close()


CANARY_ROWS = (("version", "version"), ("bars", "bars"), ("errors", "errors"),
               ("error rate", "error_rate"), ("on_bar p50 ms", "p50_ms"),
               ("on_bar p95 ms", "p95_ms"), ("on_bar p99 ms", "p99_ms"),
               ("signals", "signals"), ("intents", "intents"), ("buy", "buy"),
               ("sell", "sell"), ("status", "status"), ("self_test", "self_test"))


def _cell(value: object, key: str) -> object:
    return f"{value:.1%}" if key == "error_rate" and isinstance(value, float) else value


def _canary_status(args: argparse.Namespace, store: Store, plugin_id: str) -> int:
    runs = store.canary_runs(plugin_id, limit=1)
    if not runs:
        raise ZepixError(f"canary status: {plugin_id} never had a canary; start one with "
                         f"'zepix canary {plugin_id} VERSION'")
    run = runs[0]
    if args.json:  # with every intent both sides produced, so they can be compared bar by bar
        emit_json({**run, "intents": store.canary_intents(int(run["id"]))})
        return 0
    stats: dict[str, Any] = run["stats"] or {}
    active, candidate = stats.get("active", {}), stats.get("candidate", {})
    ended = f" (by {run['end_actor']}: {run['end_reason']})" if run["ended_at"] else ""
    sys.stdout.write(f"canary {plugin_id} {run['version']}: {run['state']} after "
                     f"{stats.get('rounds', 0)} round(s){ended}\n\n")
    rows = [{"": label, "active": _cell(active.get(key), key),
             "candidate": _cell(candidate.get(key), key)} for label, key in CANARY_ROWS]
    table(rows, ("", "active", "candidate"))
    agree = stats.get("agreement", {})
    sys.stdout.write(f"\nintents on the same bar and side: {agree.get('same', 0)}; only "
                     f"active: {agree.get('only_active', 0)}; only candidate: "
                     f"{agree.get('only_candidate', 0)}\n")
    if stats.get("latency_compared"):  # in process vs in a worker: the p95s differ by it
        sys.stdout.write(f"latency: {stats['latency_compared']}\n")
    if candidate.get("reasons"):
        sys.stdout.write(f"candidate health: {'; '.join(candidate['reasons'])}\n")
    return 0


COMMANDS = [
    Command("install", "install one plugin version into the versioned plugin store",
            "Install a wheel, sdist, project directory or requirement into a directory of\n"
            "its own in the store (pip install --no-deps --target). Its other requirements\n"
            "must already be installed in the host environment; the command names what is\n"
            "missing. The version becomes available, not active.\n\n"
            "  zepix install dist/zepix_demo-1.1.0-py3-none-any.whl\n"
            "  zepix install 'zepix-demo==1.1.0'",
            _install, _install_args),
    Command("versions", "every known version of a plugin and its state",
            "Every version installed (environment or store) or recorded: its state (active,\n"
            "available, deprecated, removed), source, first seen, last active, whether it\n"
            "passed its gate, and notes (desired, probation, canary).",
            _versions, _id_args, listing=True),
    Command("upgrade", "move a plugin to another installed version",
            "Record that ID should run VERSION. Same MAJOR version only, unless --force.\n"
            "A running host applies it within one round, touching no other plugin; the new\n"
            "version then stays on probation (self_test, healthy rounds) and is rolled back\n"
            "automatically if it fails. Without a running host, the next start uses it.",
            _upgrade, _upgrade_args),
    Command("rollback", "move a plugin back to its last known good version",
            "The last known good version is the highest version below the current one\n"
            "that was active, passed its gate and is not deprecated.",
            _rollback, _rollback_args),
    Command("deprecate", "stop a version from being picked again",
            "No host picks a deprecated version (upgrade, rollback, startup). A running\n"
            "deprecated version keeps running, with a warning and an alert. --undo reverts.",
            _deprecate, _deprecate_args),
    Command("canary", "run a candidate version in shadow beside the active one",
            "  zepix canary ID VERSION     start: VERSION runs in a worker of its own on the\n"
            "                              same bars; its intents are recorded, not executed\n"
            "  zepix canary status ID      the two side by side\n"
            "  zepix canary promote ID     make the candidate the active version\n"
            "  zepix canary abort ID       stop the candidate\n\n"
            "The host aborts a canary by itself when the candidate breaches a health\n"
            "threshold or its on_bar p95 exceeds [store] canary_p95_ratio x the active's.",
            _canary, _canary_args),
]
