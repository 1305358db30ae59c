"""Pause and resume as operations every operator surface shares (CLI, HTTP, Telegram,
the dashboard), and the breaker requests a running host applies.

A pause is kept in the database (``pauses``), so it outlives the host: the next
start comes up with the plugin paused. A running host re-reads the pauses at every
round and every config poll (``POLL`` seconds between rounds); a control made in the
host's own process (HTTP, Telegram) takes effect before it answers.
"""

from __future__ import annotations

from collections.abc import Iterable

from zepix_core.contract.errors import ZepixError
from zepix_core.storage import SilenceRow, Store

#: Request actions a running host applies to a plugin's circuit breaker.
BREAKER_ACTIONS = {"open": "breaker_open", "reset": "breaker_reset"}


def known_plugins(store: Store, extra: Iterable[str] = ()) -> set[str]:
    """Every plugin id the database has seen (and ``extra``, the running host's)."""
    return set(store.statuses()) | set(extra)


def _targets(store: Store, what: str, plugin_id: str | None, every: bool,
             extra: Iterable[str]) -> list[str]:
    if every == (plugin_id is not None):
        raise ZepixError(f"{what}: one plugin ID or --all (all) is required, not both")
    known = known_plugins(store, extra)
    if plugin_id is None:
        return sorted(known)
    if plugin_id not in known:
        raise ZepixError(f"{what}: no plugin '{plugin_id}' is known to {store.path}; "
                         "see 'zepix plugins'", plugin_id=plugin_id)
    return [plugin_id]


#: Longest reason kept; a longer one is cut (it is a note, not a log).
MAX_REASON = 500


def _clean(text: str) -> str:
    """One line of at most ``MAX_REASON`` characters, valid UTF-8 (an HTTP body may carry
    lone surrogates, which SQLite cannot store)."""
    line = " ".join(text.encode("utf-8", "replace").decode("utf-8").split())
    return line[:MAX_REASON]


def pause(store: Store, plugin_id: str | None, reason: str, actor: str, now: float, *,
          every: bool = False, extra: Iterable[str] = ()) -> list[str]:
    """Pause one plugin (or ``every`` known plugin); returns the ids paused now (not
    those paused already). Each pause is an event with ``actor`` and ``reason``."""
    reason = _clean(reason) or "paused by an operator"
    return [pid for pid in _targets(store, "pause", plugin_id, every, extra)
            if store.pause(pid, reason, actor, now)]


def resume(store: Store, plugin_id: str | None, actor: str, now: float, *,
           every: bool = False, extra: Iterable[str] = ()) -> list[str]:
    """Undo a pause of one plugin (or of every paused plugin); returns the ids resumed."""
    if every and plugin_id is None:
        targets = sorted(store.pauses())
    else:
        targets = _targets(store, "resume", plugin_id, every, extra)
    return [pid for pid in targets if store.resume(pid, actor, now)]


# -- silences and the delivery test -------------------------------------------------
#: The request a running host applies by sending a test alert through every sink.
ALERTS_TEST = "alerts_test"
#: Longest silence: a week (a silence is for maintenance, not for ever).
MAX_SILENCE_MINUTES = 7 * 24 * 60


def silence(store: Store, target: str, minutes: float, reason: str, actor: str, now: float,
            extra: Iterable[str] = ()) -> SilenceRow:
    """Silence ``PLUGIN[:KIND]`` (``*`` for every plugin) for ``minutes``; the new row."""
    plugin_id, _, kind = target.partition(":")
    if plugin_id != "*" and plugin_id not in known_plugins(store, extra) | {"zepix"}:
        raise ZepixError(f"silence: no plugin '{plugin_id}' is known to {store.path}; see "
                         "'zepix plugins' (or '*' for every plugin, 'zepix' for the host)")
    if isinstance(minutes, bool) or not 0 < minutes <= MAX_SILENCE_MINUTES:
        raise ZepixError(f"silence: {minutes!r} minutes; give more than 0 and at most "
                         f"{MAX_SILENCE_MINUTES} (a week)")
    why = _clean(reason)
    if not why:
        raise ZepixError("silence: give a reason (--reason TEXT): the next operator reads it")
    silence_id = store.add_silence(plugin_id, kind.strip() or None, now + minutes * 60.0, why,
                                   actor, now)
    return next(r for r in store.silences() if r["id"] == silence_id)


def unsilence(store: Store, silence_id: int, actor: str, now: float) -> SilenceRow:
    removed = store.remove_silence(silence_id, actor, now)
    if removed is None:
        raise ZepixError(f"unsilence: no active silence {silence_id}; see "
                         "'zepix alerts silences'")
    return removed
