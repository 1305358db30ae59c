"""``zepix versions ID --json`` and ``GET /api/v1/versions/{id}``: every known version."""

from __future__ import annotations

from typing import Any

from zepix_core.storage import VersionBook
from zepix_core.versions.policy import Operator, current_version, gather


def version_listing(operator: Operator, plugin_id: str) -> list[dict[str, Any]]:
    """Every known version of ``plugin_id``, oldest first (``zepix versions``)."""
    book = operator.db.version_book(plugin_id)
    facts = gather(operator.installed(plugin_id), book.versions)
    current = current_version(book, operator.env.get(plugin_id))
    running = book.running["version"] if book.running else None
    active = running if running is not None else current
    rows = []
    for f in facts:
        installed_at = operator.plugins.installed_at(f.record) if f.record else None
        state = ("active" if active is not None and f.version == active else
                 "removed" if f.record is None else
                 "deprecated" if f.deprecated else "available")
        rows.append({
            "version": f.version, "state": state,
            "source": operator.plugins.source_of(f.record) if f.record
            else book.versions.get(f.version, {}).get("source"),
            "distribution": f.record.distribution if f.record
            else book.versions.get(f.version, {}).get("distribution"),
            "first_seen": f.first_seen if f.first_seen is not None else installed_at,
            "last_active": f.last_active, "gate_passed": f.gate_passed,
            "deprecated": f.deprecated, "running": running == f.version,
            "desired": bool(book.desired and book.desired["version"] == f.version),
            "note": _note(book, f.version, state, f.deprecated),
        })
    return rows


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
