"""``zepix versions ID --json`` and ``GET /api/v1/versions/{id}``: every known version."""

from __future__ import annotations

from zepix_core.loading.discovery import EntryRecord
from zepix_core.storage import Row, VersionBook
from zepix_core.versions.origin import is_editable, origin
from zepix_core.versions.policy import VersionCommands
from zepix_core.versions.release import KEYS, from_distribution, merged, shown
from zepix_core.versions.rules import VersionFacts, current_version, gather


def version_listing(operator: VersionCommands, plugin_id: str) -> list[dict[str, object]]:
    """Every known version of ``plugin_id``, oldest first (``zepix versions``): one row per
    copy, so the environment's and the store's copies of one version are two rows, each
    saying where it comes from (``origin``) and whether it is the one that runs."""
    book = operator.db.version_book(plugin_id)
    facts = gather(operator.installed(plugin_id), book.versions)
    current = current_version(book, operator.env.get(plugin_id))
    running = book.running["version"] if book.running else None
    active = running if running is not None else current
    stored = operator.plugins.records(plugin_id)
    env = operator.env.get(plugin_id)
    verdicts = operator.db.gate_verdicts(plugin_id)
    disabled = operator.config.plugins.get(plugin_id, {}).get("enabled", True) is False
    rows = []
    for f in facts:
        copies: list[EntryRecord | None] = [f.record]
        for other in (stored.get(f.version), env):  # the copy of this version not loaded
            if (f.record is not None and other is not None and other.dist_version == f.version
                    and other.location != f.record.location):
                copies.append(other)
                break
        for record in copies:
            row = _row(operator, book, f, record, active, running, loads=record is f.record)
            rows.append({**row, "gate": _gate(book, f, verdicts.get(f.version), disabled)})
    return rows


#: ``gate`` of a version row: how its probation went, or why it had none.
GATES = ("passed", "failed", "probation", "disabled", "never_ran", "pending")


def _gate(book: VersionBook, f: VersionFacts, verdict: str | None, disabled: bool) -> str:
    """``gate_passed`` false alone reads as "failed its gate"; this says which it is:
    ``passed``; ``failed`` (its last gate said so); ``disabled`` (the plugin is off in
    the config, so nothing gates it); ``probation`` (on it now); ``never_ran``;
    ``pending`` (it ran, its quiet probation has not finished)."""
    if f.gate_passed:
        return "passed"
    if verdict == "gate_failed":
        return "failed"
    if disabled:
        return "disabled"
    if book.probation is not None and book.probation["version"] == f.version:
        return "probation"
    return "never_ran" if f.last_active is None else "pending"


def _row(operator: VersionCommands, book: VersionBook, f: VersionFacts, record: EntryRecord | None,
         active: str | None, running: str | None, *, loads: bool) -> dict[str, object]:
    installed_at = operator.plugins.installed_at(record) if record else None
    # Only the copy that loads is active: another copy of the same version is not.
    state = ("active" if active is not None and f.version == active and loads else
             "removed" if record is None else
             "deprecated" if f.deprecated else "available")
    note = _note(book, f.version, state, f.deprecated)
    if not loads and record is not None:
        shadowed = ("not loaded: an editable copy runs its working tree, whatever version "
                    "that holds now; the store's copy of this version loads"
                    if is_editable(record) else
                    "not loaded: the environment's copy of this version comes first")
        note = ", ".join(filter(None, (shadowed, note)))
    return {
        "version": f.version, "state": state,
        "origin": origin(operator.plugins.holds(record), record) if record else None,
        "source": operator.plugins.source_of(record) if record
        else book.versions.get(f.version, {}).get("source"),
        "distribution": record.distribution if record
        else book.versions.get(f.version, {}).get("distribution"),
        "first_seen": f.first_seen if f.first_seen is not None else installed_at,
        "last_active": f.last_active, "gate_passed": f.gate_passed,
        "deprecated": f.deprecated,
        "running": running == f.version and loads,
        "runs": "yes" if running == f.version and loads else "",
        "desired": bool(book.desired and book.desired["version"] == f.version) and loads,
        "note": note,
        **_release(book.versions.get(f.version, {}), record),
    }


def _release(row: Row, record: EntryRecord | None) -> dict[str, object]:
    """``commit``, ``author``, ``features``, ``build_date``, ``release_notes``: what the
    version database keeps, else what the copy's distribution states."""
    kept = {k: row.get(k) for k in KEYS}
    return shown(merged(kept, from_distribution(record)) if record is not None else kept)


def _note(book: VersionBook, version: str, state: str, deprecated: bool) -> str | None:
    notes = []
    if deprecated and state == "active":
        notes.append("deprecated")
    if book.desired is not None and book.desired["version"] == version and state != "active":
        notes.append("desired")
    if book.probation is not None and book.probation["version"] == version:
        notes.append(f"probation {book.probation['rounds_ok']}/{book.probation['rounds']} "
                     "rounds")
    if book.canary is not None and book.canary["version"] == version:
        notes.append(f"canary {book.canary['state']}")
    return ", ".join(notes) or None
