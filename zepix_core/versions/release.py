"""What a version says about itself: commit, author, features, build date, release notes.

Two sources, kept per version in the version database (``plugin_versions``):

- the plugin's ``plugin_version`` reply, when the host ran it (``from_meta``);
- its distribution, read without running its code (``from_distribution``): the
  same keys in ``zepix-plugin.toml``, ``Author`` (or the name in
  ``Author-email``) of its metadata, and the commit pip recorded in
  ``direct_url.json`` for an install from a VCS.

What the running code said wins over what the files said; a value neither gives
stays unknown (None). Every value is a plugin's text: lengths are bounded here,
and the edges escape it for their medium.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path

import importlib_metadata as md

from zepix_core.contract.errors import PluginError
from zepix_core.loading.discovery import EntryRecord
from zepix_core.loading.resolution import PluginMeta
from zepix_core.versions.store import declared_meta

#: The columns kept per version, as the database names them.
KEYS = ("commit_id", "author", "features", "build_date", "release_notes")
#: Longest release notes kept, in characters; longer notes are cut and say so.
NOTES_LIMIT = 4000
#: Longest commit, author or build date kept.
FIELD_LIMIT = 200
#: Most features kept.
FEATURES_LIMIT = 50

Release = dict[str, str | None]


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def from_meta(meta: PluginMeta | None) -> Release:
    """The release fields of a ``plugin_version`` reply (or a ``zepix-plugin.toml`` table)."""
    if meta is None:
        return dict.fromkeys(KEYS)
    features = [f[:FIELD_LIMIT] for f in meta.features[:FEATURES_LIMIT]]
    return {"commit_id": _cut(meta.commit, FIELD_LIMIT), "author": _cut(meta.author, FIELD_LIMIT),
            "features": json.dumps(features) if features else None,
            "build_date": _cut(meta.build_date, FIELD_LIMIT),
            "release_notes": _cut(meta.release_notes, NOTES_LIMIT)}


def from_distribution(record: EntryRecord) -> Release:
    """The release fields ``record``'s distribution states, no code run."""
    try:
        declared = from_meta(declared_meta(record))
    except PluginError:  # a malformed file is reported where it is loaded, not here
        declared = dict.fromkeys(KEYS)
    found: Release = {**declared}
    if not record.location:
        return found
    author, commit = _installed_facts(record.location)
    found["author"] = found["author"] or author
    found["commit_id"] = found["commit_id"] or commit
    return found


@functools.lru_cache(maxsize=256)
def _installed_facts(location: str) -> tuple[str | None, str | None]:
    """The author and the VCS commit an installed distribution's files state. Read once
    per ``*.dist-info`` folder: its plugins (one distribution may offer many) share
    them, and an install of another version is another folder."""
    info = Path(location)
    try:
        metadata = md.PathDistribution(info).metadata
        author = metadata.get("Author") or parseaddr(metadata.get("Author-email") or "")[0]
    except (OSError, ValueError):
        author = None
    return _cut(author, FIELD_LIMIT), _vcs_commit(info)


def _vcs_commit(info: Path) -> str | None:
    try:
        direct = json.loads((info / "direct_url.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    vcs = direct.get("vcs_info") if isinstance(direct, dict) else None
    commit = vcs.get("commit_id") if isinstance(vcs, dict) else None
    return _cut(commit, FIELD_LIMIT) if isinstance(commit, str) else None


def merged(first: Mapping[str, str | None], then: Mapping[str, str | None]) -> Release:
    """``first``'s values, ``then``'s where ``first`` has none."""
    return {k: first.get(k) or then.get(k) for k in KEYS}


def shown(row: Mapping[str, object]) -> dict[str, object]:
    """The release fields of a ``plugin_versions`` row as ``zepix versions --json``
    shows them: ``commit``, ``author``, ``features`` (a list), ``build_date``,
    ``release_notes``."""
    try:
        features = json.loads(str(row["features"])) if row.get("features") else []
    except ValueError:
        features = []
    return {"commit": row.get("commit_id"), "author": row.get("author"),
            "features": [str(f) for f in features] if isinstance(features, list) else [],
            "build_date": row.get("build_date"), "release_notes": row.get("release_notes")}
