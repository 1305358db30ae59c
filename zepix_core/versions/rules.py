"""Version rules: pure functions over ``VersionFacts``.

The same-MAJOR rule, last known good, which installed version a starting host
picks, and whether declared requirements admit a version. Nothing here reads
or writes a database; ``policy.VersionCommands`` and ``reconcile`` call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.model import PluginState
from zepix_core.loading.discovery import EntryRecord
from zepix_core.loading.resolution import Candidate, PluginMeta, PluginPolicy, resolve
from zepix_core.storage import DesiredRow, Row, VersionBook
from zepix_core.versions.origin import copies, drifted


@dataclass(frozen=True)
class VersionFacts:
    """One version of a plugin: where it is installed (``record``; None when it
    no longer is) and what the history says about it."""

    version: str
    record: EntryRecord | None
    deprecated: bool = False
    gate_passed: bool = False
    was_active: bool = False
    first_seen: float | None = None
    last_active: float | None = None
    #: Its only copy is an editable environment install whose working tree may no longer
    #: be this version (see ``origin.drifted``).
    editable: bool = False

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    def not_good(self) -> str | None:
        """Why this version cannot be a last known good one, or None."""
        if self.record is None:
            return "is no longer installed"
        if self.deprecated:
            return "is deprecated"
        if not self.was_active:
            return "was never active"
        if not self.gate_passed:
            return "never passed its gate"
        if self.editable:
            return "is installed only in editable mode (its code is a working tree)"
        return None


def same(a: str | None, b: str | None) -> bool:
    """Whether two version strings, both given, name the same version (1.0 == 1.0.0)."""
    return a is not None and b is not None and Version(a) == Version(b)


def parse_version(plugin_id: str, text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ZepixError(f"{plugin_id}: {text!r} is not a PEP 440 version (e.g. 1.2.0)",
                         plugin_id=plugin_id) from None


def gather(installed: Mapping[str, EntryRecord], rows: Mapping[str, Row]) -> list[VersionFacts]:
    """Facts of every version installed or recorded, oldest version first."""
    facts = []
    for version in sorted(set(installed) | set(rows), key=Version):
        row = rows.get(version, {})
        facts.append(VersionFacts(
            version=version, record=installed.get(version),
            deprecated=bool(row.get("deprecated")), gate_passed=bool(row.get("gate_passed")),
            was_active=row.get("last_active") is not None, first_seen=row.get("first_seen"),
            editable=drifted(installed.get(version)),
            last_active=row.get("last_active")))
    return facts


def find(facts: Iterable[VersionFacts], version: str | Version | None) -> VersionFacts | None:
    if version is None:
        return None
    wanted = Version(str(version))
    return next((f for f in facts if f.parsed == wanted), None)


def last_known_good(facts: Iterable[VersionFacts], below: str) -> VersionFacts | None:
    """The highest version below ``below`` that was active, passed its gate and is
    not deprecated (and is still installed)."""
    limit = Version(below)
    good = [f for f in facts if f.parsed < limit and f.not_good() is None]
    return max(good, key=lambda f: f.parsed, default=None)


def skipped_below(facts: Iterable[VersionFacts], below: str) -> list[str]:
    limit = Version(below)
    return [f"{f.version} {why}" for f in sorted(facts, key=lambda f: f.parsed, reverse=True)
            if f.parsed < limit and (why := f.not_good()) is not None]


def crosses_major(current: str | None, target: str) -> bool:
    return current is not None and Version(current).major != Version(target).major


def choose(env: EntryRecord | None, facts: Sequence[VersionFacts],
           desired: str | None, pin: SpecifierSet | None = None) -> EntryRecord | None:
    """The record a starting host loads for one plugin.

    Among the installed versions that are not deprecated, and that the
    operator's ``pin`` admits when any does: the desired version when it is
    one of them; else the environment's copy; else the highest, passed gates
    first. None when every installed version is deprecated. (When no version
    fits the pin, resolution rejects what is chosen and says so.)
    """
    usable = [f for f in facts if f.record is not None and not f.deprecated]
    if pin is not None:
        fitting = [f for f in usable if pin.contains(f.parsed, prereleases=True)]
        usable = fitting or usable
    wanted = find(usable, desired)
    if wanted is not None:
        return wanted.record
    own = find(usable, env.dist_version) if env is not None else None
    if own is not None:  # the environment's version: its store copy when env is editable
        return own.record
    ranked = sorted(usable, key=lambda f: (f.gate_passed, not f.parsed.is_prerelease, f.parsed))
    return ranked[-1].record if ranked else None


def select(env_records: Sequence[EntryRecord], stored: Mapping[str, Mapping[str, EntryRecord]],
           rows: Mapping[str, Mapping[str, Row]], desired: Mapping[str, DesiredRow],
           pins: Mapping[str, SpecifierSet | None] | None = None) -> list[EntryRecord]:
    """Discovery's records with each plugin's version chosen among the environment
    and the store; environment records rejected at discovery are kept as they are."""
    out: list[EntryRecord] = []
    env = {r.plugin_id: r for r in env_records}
    for pid in [*env, *sorted(set(stored) - set(env))]:
        rec = env.get(pid)
        if rec is not None and rec.state is not PluginState.DISCOVERED:
            out.extend(r for r in env_records if r.plugin_id == pid)
            continue
        installed = copies(stored.get(pid, {}), rec)
        facts = gather(installed, rows.get(pid, {}))
        wish = desired.get(pid)
        picked = choose(rec, facts, wish["version"] if wish else None, (pins or {}).get(pid))
        if picked is None:
            last = max(facts, key=lambda f: f.parsed).record if facts else rec
            assert last is not None
            picked = replace(last, state=PluginState.INACTIVE, reason=(
                "every installed version is deprecated; install a new one or undo with "
                f"'zepix deprecate {pid} {last.dist_version} --undo'"))
        out.append(picked)
    return out


def current_version(book: VersionBook, env: EntryRecord | None) -> str | None:
    """The version a plugin runs or is about to run: the desired one, else the
    running one, else the last recorded, else the environment's."""
    for row in (book.desired, book.running, book.status):
        if row is not None:
            return str(row["version"])
    return env.dist_version if env is not None else None


def admission_problem(plugin_id: str, version: str, meta: PluginMeta,
                      others: Mapping[str, Candidate], api_version: str,
                      policies: Mapping[str, PluginPolicy]) -> str | None:
    """Why ``version`` of ``plugin_id`` with ``meta`` cannot join the active
    plugins ``others`` (its own rules, its ``requires``, and theirs on it), or None."""
    res = resolve({**others, plugin_id: Candidate(plugin_id, Version(version), meta)},
                  api_version, policies)
    if plugin_id in res.verdicts:
        return res.verdicts[plugin_id][1]
    broken = [f"{other} would no longer resolve ({why})"
              for other, (_, why) in sorted(res.verdicts.items())]
    return "; ".join(broken) or None


def declared_problem(meta: PluginMeta, api_version: str,
                     current_of: Callable[[str], str | None]) -> str | None:
    """Why declared requirements rule a version out, or None when they do not."""
    if meta.requires_api and not meta.requires_api.contains(Version(api_version),
                                                            prereleases=True):
        return f"declares requires_api '{meta.requires_api}', which excludes host API {api_version}"
    for dep, spec in sorted(meta.requires.items()):
        have = current_of(dep)
        if have is None:
            return f"requires {dep} '{spec}', which is not installed"
        if not spec.contains(Version(have), prereleases=True):
            return f"requires {dep} '{spec}' but {dep} {have} is the active version"
    return None
