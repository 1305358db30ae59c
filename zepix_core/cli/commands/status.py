"""``zepix status``: is a host running on this database, and are its rounds fresh?"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from zepix_core.api.settings import DEFAULTS, LISTEN_ENV
from zepix_core.cli.commands.base import Command, store_from, view_config
from zepix_core.cli.render import emit_json, iso
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import Config
from zepix_core.views.status import host_status

#: Exit codes: a host runs with fresh rounds, runs with stale ones, none runs.
FRESH, STALE, NO_HOST = 0, 1, 3


def _status(args: argparse.Namespace) -> int:
    config = view_config(args)
    store = store_from(args)
    try:
        doc = host_status(store, time.time(), float(config.host["interval"]),
                          config.sync().url)
    finally:
        store.close()
    doc["http"] = _http(config) if doc["running"] else None
    doc["telegram"] = _telegram(config)
    if getattr(args, "json", False):
        emit_json(doc)
    else:
        sys.stdout.write(_text(doc, str(store.path)))
    if not doc["running"]:
        return NO_HOST
    return FRESH if doc["fresh"] else STALE


def _http(config: Config) -> str | None:
    """The running host's API address, if it answers there."""
    listen = os.environ.get(LISTEN_ENV) or config.sections.get("http", {}).get(
        "listen", DEFAULTS["listen"])
    if not listen:
        return None
    url = f"http://{listen}"
    try:
        # S310: an http:// URL built from the host's own listen address
        with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310
            pass
    except urllib.error.HTTPError:
        return url      # it answered (503, 401, ...): a server listens there
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return url


def _telegram(config: Config) -> str:
    try:
        from zepix_core.telegram.settings import settings_from
    except ImportError:  # the extra zepix-core[telegram] is not installed
        return "off (python-telegram-bot is not installed)"
    try:
        on = settings_from(config.sections.get("telegram", {})) is not None
    except ZepixError as exc:
        return f"error: {exc}"
    return "configured (its connection is not recorded)" if on else "off"


def _text(doc: dict[str, Any], db: str) -> str:
    if not doc["running"]:
        crash = "; its last start recovered from a crash" if doc["recovered_from_crash"] else ""
        return f"no zepix host is running on {db}{crash}\n"
    age = doc["round_age_seconds"]
    rounds = ("no round yet" if age is None else
              f"last round {age:.0f}s ago ({'fresh' if doc['fresh'] else 'STALE'})")
    plugins = ", ".join(f"{n} {state}" for state, n in doc["plugins"]["by_state"].items())
    health = ", ".join(f"{n} {status}" for status, n in doc["plugins"]["by_health"].items())
    lag = doc["sync_lag_seconds"]
    crash = "; this start recovered from a crash" if doc["recovered_from_crash"] else ""
    head = (f"zepix host running on {db}: pid {doc['pid']}, started {iso(doc['started_at'])} "
            f"(up {doc['uptime_seconds']:.0f}s), zepix-core {doc['version']}")
    paused = ", ".join(doc["paused"]) or "none"
    lag_text = "n/a" if lag is None else f"{lag:.0f}s"
    lines = [head, rounds + crash,
             f"plugins: {plugins or 'none'}; health: {health or 'none yet'}",
             f"paused: {paused}; sync lag: {lag_text}",
             f"http: {doc['http'] or 'off'}; telegram: {doc['telegram']}"]
    return "\n".join(lines) + "\n"


COMMANDS = [
    Command("status", "is a host running on this database, and are its rounds fresh?",
            "The host registered on this database: pid, uptime, version, its last round\n"
            "and whether it is fresh (within three intervals), plugin counts by state and\n"
            "health, sync lag, the HTTP API and Telegram. Exit 0 when a host runs with\n"
            "fresh rounds, 1 when its rounds are stale, 3 when no host runs.\n\n"
            "  zepix status --json", _status, listing=True),
]
