"""Version resolution: which discovered plugins may be activated, and in what order.

Everything here is pure: it reads what ``plugin_version`` reported, the
distributions' versions, the host API version and the operator's config, and
returns a decision per plugin. Versions and specifiers are PEP 440, parsed
with ``packaging``.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from zepix_core.contract.api import DB_SCHEMA_VERSION
from zepix_core.contract.errors import PluginError
from zepix_core.contract.model import PluginState

_META_KEYS = {"version", "requires_api", "requires_db_schema", "requires", "features", "commit",
              "build_date", "author", "release_notes"}


@dataclass(frozen=True)
class PluginMeta:
    """What a plugin says about itself through ``plugin_version``."""

    version: Version
    requires_api: SpecifierSet = field(default_factory=SpecifierSet)
    requires_db_schema: SpecifierSet = field(default_factory=SpecifierSet)
    requires: Mapping[str, SpecifierSet] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    commit: str | None = None
    build_date: str | None = None
    author: str | None = None
    release_notes: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "version": str(self.version), "requires_api": str(self.requires_api),
            "requires_db_schema": str(self.requires_db_schema),
            "requires": {k: str(v) for k, v in self.requires.items()},
            "features": list(self.features), "commit": self.commit,
            "build_date": self.build_date, "author": self.author,
            "release_notes": self.release_notes,
        }


def parse_meta(value: object) -> PluginMeta:
    """Validate a ``plugin_version`` return value; raises ``PluginError`` naming the fix."""
    if isinstance(value, str):
        return PluginMeta(version=_version(value))
    if not isinstance(value, Mapping):
        raise PluginError(f"plugin_version returned {type(value).__name__}; "
                          "return a version string or a mapping with 'version'")
    if "version" not in value:
        raise PluginError("plugin_version mapping has no 'version' key")
    unknown = sorted(k if isinstance(k, str) else repr(k) for k in value if k not in _META_KEYS)
    if unknown:
        raise PluginError(f"plugin_version mapping has unknown key(s) {', '.join(unknown)}")
    return PluginMeta(
        version=_version(value["version"]),
        requires_api=_specifier("requires_api", value.get("requires_api") or ""),
        requires_db_schema=_specifier("requires_db_schema",
                                      value.get("requires_db_schema") or ""),
        requires=_requires(value.get("requires") or {}),
        features=_features(value.get("features") or ()),
        commit=_opt_str("commit", value.get("commit")),
        build_date=_opt_str("build_date", value.get("build_date")),
        author=_opt_str("author", value.get("author")),
        release_notes=_opt_str("release_notes", value.get("release_notes")),
    )


def _version(text: object) -> Version:
    if not isinstance(text, str):
        raise PluginError(f"version must be a string, got {type(text).__name__}")
    try:
        return Version(text)
    except InvalidVersion:
        raise PluginError(f"version {text!r} is not a valid PEP 440 version") from None


def _specifier(key: str, text: object) -> SpecifierSet:
    if not isinstance(text, str):
        raise PluginError(f"{key} must be a PEP 440 specifier string, got {type(text).__name__}")
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise PluginError(f"{key} {text!r} is not a valid PEP 440 specifier") from None


def _requires(value: object) -> dict[str, SpecifierSet]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise PluginError("requires must be a mapping of plugin id -> specifier")
    return {k: _specifier(f"requires[{k}]", v) for k, v in value.items()}


def _features(value: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(f, str) for f in value):
        raise PluginError(f"features must be a list of strings, got {type(value).__name__}")
    return tuple(value)


def _opt_str(key: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise PluginError(f"{key} must be a string")
    return value


@dataclass(frozen=True)
class Candidate:
    """A loaded plugin offered for resolution."""

    plugin_id: str
    version: Version
    meta: PluginMeta


@dataclass(frozen=True)
class PluginPolicy:
    """The operator's wishes for one plugin."""

    enabled: bool = True
    pin: SpecifierSet | None = None
    allow_prereleases: bool = False


@dataclass(frozen=True)
class Resolution:
    """Activation order of the accepted plugins and a verdict for the rest."""

    order: list[str]
    verdicts: dict[str, tuple[PluginState, str]]


def _own_verdict(c: Candidate, api: Version, policy: PluginPolicy,
                 db_schema: Version) -> tuple[PluginState, str] | None:
    if not policy.enabled:
        return PluginState.INACTIVE, "disabled in config (enabled = false)"
    if c.meta.requires_api and not c.meta.requires_api.contains(api, prereleases=True):
        return PluginState.REJECTED, (
            f"requires_api '{c.meta.requires_api}' excludes host API {api}")
    wanted = c.meta.requires_db_schema
    if wanted and not wanted.contains(db_schema, prereleases=True):
        return PluginState.REJECTED, (
            f"requires_db_schema '{wanted}' excludes host database schema {db_schema}")
    if c.version.is_prerelease and not policy.allow_prereleases:
        return PluginState.REJECTED, (
            f"version {c.version} is a pre-release; set allow_prereleases = true to use it")
    if policy.pin is not None and not policy.pin.contains(c.version, prereleases=True):
        return PluginState.REJECTED, (
            f"version {c.version} does not satisfy the pin '{policy.pin}' in config")
    return None


def _unmet(c: Candidate, accepted: Mapping[str, Candidate],
           verdicts: Mapping[str, tuple[PluginState, str]]) -> str | None:
    for dep, spec in sorted(c.meta.requires.items()):
        if dep in accepted:
            if not spec.contains(accepted[dep].version, prereleases=True):
                return f"requires {dep} '{spec}' but {dep} {accepted[dep].version} is available"
            continue
        if dep in verdicts:
            state, why = verdicts[dep]
            return f"requires {dep} '{spec}', which is {state.value}: {why}"
        return f"requires {dep} '{spec}', which is not installed"
    return None


def resolve(candidates: Mapping[str, Candidate], api_version: str,
            policies: Mapping[str, PluginPolicy], db_schema_version: str = DB_SCHEMA_VERSION
            ) -> Resolution:
    """Decide which candidates activate and their dependency order.

    A plugin is accepted when its own checks pass (enabled, ``requires_api``,
    ``requires_db_schema``, pre-release rule, pin) and every plugin it requires is accepted at a
    satisfying version. Members of a dependency cycle are rejected with the
    cycle named; rejection propagates to dependents with the chain in the
    reason.
    """
    api, db_schema = Version(api_version), Version(db_schema_version)
    verdicts: dict[str, tuple[PluginState, str]] = {}
    accepted: dict[str, Candidate] = {}
    for pid, cand in candidates.items():
        own = _own_verdict(cand, api, policies.get(pid, PluginPolicy()), db_schema)
        if own is None:
            accepted[pid] = cand
        else:
            verdicts[pid] = own
    while True:
        _drop_unmet(accepted, verdicts)
        graph = {pid: set(c.meta.requires) & set(accepted) for pid, c in accepted.items()}
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
            chain = " -> ".join(cycle)
            for pid in set(cycle):
                verdicts[pid] = (PluginState.REJECTED, f"dependency cycle: {chain}")
                accepted.pop(pid, None)
            continue
        return Resolution(order=order, verdicts=verdicts)


def _drop_unmet(accepted: dict[str, Candidate],
                verdicts: dict[str, tuple[PluginState, str]]) -> None:
    changed = True
    while changed:
        changed = False
        for pid in sorted(accepted):
            why = _unmet(accepted[pid], accepted, verdicts)
            if why is not None:
                verdicts[pid] = (PluginState.REJECTED, why)
                del accepted[pid]
                changed = True
