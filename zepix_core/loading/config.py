"""Configuration: one TOML file, every key optional, every error naming file, key and fix."""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from zepix_core.contract.errors import ConfigError
from zepix_core.loading.paths import data_dir
from zepix_core.loading.resolution import Policy
from zepix_core.loading.riskconfig import check_risk
from zepix_core.loading.syncconfig import SyncSettings
from zepix_core.retry import retrier_from_config

ISOLATION_MODES = ("inprocess", "process")
#: ``[host] dispatch`` (execution/dispatch.py ``DISPATCH_MODES``, kept here: loading
#: imports nothing from execution).
DISPATCH_MODES = ("thread", "inline")

#: ``[host]`` keys with their defaults.
HOST_DEFAULTS: Mapping[str, Any] = {
    "interval": 30.0,             # seconds between monitoring rounds
    "allow_prereleases": False,   # may pre-release plugin versions activate
    "isolation": "inprocess",     # default isolation for plugins without their own
    "dispatch": "thread",         # on_bar on a dispatch thread, or "inline" on the bot's
    "self_test_every": 10,        # rounds between periodic self tests
    "retention_days": 30.0,       # health snapshots and resolved alerts kept this long
    "market_seed": 7,             # seed of the bundled market replay
    "market_symbols": ["BTCUSD", "ETHUSD"],
    "bars_per_round": 5,          # 1m replay steps fed between monitoring rounds
    "warmup_bars": 240,           # 1m replay steps fed at start, so indicators have history
    "max_frame_mb": 4.0,          # largest reply frame a worker may send; larger kills it
    "db_busy_timeout": 30.0,      # seconds a database write waits for a lock held elsewhere
    "accuracy_horizon": 5,        # bars after an intent at which its direction is judged
}

#: Further top-level tables, read by the module that owns them.
SECTIONS = ("thresholds", "alerts", "supervision", "store", "retry", "anomaly", "http", "sync",
            "telegram", "market", "risk")

#: Supervision keys (``_supervisor``): in ``[supervision]`` for every plugin, or in a
#: ``[plugins.<id>]`` table for one; docs/supervision.md explains each.
SUPERVISION_DEFAULTS: Mapping[str, Any] = {
    "max_restarts": 3,            # restarts per incident before giving up
    "restart_backoff": 1.0,       # seconds before the first restart; doubles per attempt
    "restart_backoff_cap": 60.0,  # longest wait between restarts
    "restart_jitter": 0.2,        # +-20 % spread on each wait
    "restart_intensity": 5,       # at most this many restarts ...
    "restart_window": 300.0,      # ... within this many seconds, across incidents
    "stable_after": 120.0,        # seconds up that end an incident
    "hung_grace": 30.0,           # seconds HUNG before a stop and restart
    "stop_grace": 1.0,            # seconds between SIGTERM and SIGKILL for a worker
    "memory_limit_mb": None,      # a worker's RSS above this ...
    "memory_samples": 3,          # ... in this many rounds in a row is restarted
    "breaker_failures": 5,        # consecutive on_bar failures that open the breaker
    "breaker_open_for": 60.0,     # seconds open before trial calls
}
#: The least value a supervision key may have, and whether it must be whole (default: >= 0).
_SUPERVISION_MINIMA: Mapping[str, tuple[float, bool]] = {
    "max_restarts": (1, True), "restart_intensity": (1, True), "memory_samples": (1, True),
    "breaker_failures": (1, True), "restart_backoff": (0.001, False),
    "restart_backoff_cap": (0.001, False), "restart_window": (0.001, False),
    "memory_limit_mb": (0.001, False),
}

#: ``[store]`` keys (version management, ``_reconcile``), each a number > 0; docs/operations.md.
STORE_DEFAULTS: Mapping[str, Any] = {
    "probation_rounds": 3,        # healthy monitoring rounds a new version must pass (whole)
    "canary_p95_ratio": 3.0,      # a candidate's on_bar p95 may be this many times the active's
    "canary_p95_floor_ms": 50.0,  # ... and is never judged slower while under this
}

#: Keys of a ``[plugins.<id>]`` table the host reads; any other key is passed to the plugin.
PLUGIN_DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "version": None,
    "isolation": None,
    "ping_timeout": 2.0,
    "allow_prereleases": None,
    **SUPERVISION_DEFAULTS,
    "max_quantity": None,         # an intent's quantity above this is dropped
    "max_intents_per_bar": None,  # more intents than this for one bar are dropped
    "symbols": None,              # intents for symbols not in this list are dropped
}


@dataclass(frozen=True)
class PluginConfig:
    plugin_id: str
    enabled: bool = True
    version: SpecifierSet | None = None
    isolation: str = "inprocess"
    ping_timeout: float = 2.0
    allow_prereleases: bool = False
    table: Mapping[str, Any] = field(default_factory=dict)
    #: The config file the table came from, for messages (``<defaults>`` without one).
    source: str = "<defaults>"
    max_frame: int = 4 * 2**20

    def policy(self) -> Policy:
        return Policy(enabled=self.enabled, pin=self.version,
                      allow_prereleases=self.allow_prereleases)


@dataclass(frozen=True)
class Config:
    host: Mapping[str, Any] = field(default_factory=lambda: dict(HOST_DEFAULTS))
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def sync(self) -> SyncSettings:
        """``[sync]`` with its defaults (the ledger in the data directory)."""
        return SyncSettings.from_config(self.sections.get("sync", {}), data_dir(),
                                        str(self.path or "<defaults>"))

    def plugin(self, plugin_id: str) -> PluginConfig:
        table = dict(self.plugins.get(plugin_id, {}))
        prerelease = table.get("allow_prereleases")
        return PluginConfig(
            plugin_id=plugin_id,
            enabled=table.get("enabled", True),
            version=_pin(self, plugin_id, table.get("version")),
            isolation=table.get("isolation") or self.host["isolation"],
            ping_timeout=float(table.get("ping_timeout", 2.0)),
            allow_prereleases=bool(self.host["allow_prereleases"] if prerelease is None
                                   else prerelease),
            table=table,
            source=str(self.path or "<defaults>"),
            max_frame=int(float(self.host["max_frame_mb"]) * 2**20),
        )


def _where(cfg: Config, key: str) -> str:
    return f"{cfg.path or '<defaults>'}: {key}"


def _pin(cfg: Config, plugin_id: str, text: Any) -> SpecifierSet | None:
    if text is None:
        return None
    try:
        if not isinstance(text, str):
            raise InvalidSpecifier(text)
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ConfigError(f"{_where(cfg, f'plugins.{plugin_id}.version')}: {text!r} is not "
                          "a PEP 440 specifier (e.g. \"~=3.2\" or \">=6,<7\")") from None


def load_config(path: Path | None) -> Config:
    """Read and validate the config at ``path``; no path or no file means all defaults."""
    if path is None or not path.exists():
        return Config(path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Validate the whole ``text`` of the config file at ``path`` (the checks of a start)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    for name, value in raw.items():
        _nonfinite(path, name, value)
    host = _host_table(path, raw.pop("host", {}))
    plugins = raw.pop("plugins", {})
    if not isinstance(plugins, dict):
        raise ConfigError(f"{path}: plugins must be a table of [plugins.<id>] tables")
    for name, section in raw.items():
        if name not in SECTIONS or not isinstance(section, dict):
            hint = difflib.get_close_matches(name, [*SECTIONS, "host", "plugins"], n=1)
            fix = f"did you mean [{hint[0]}]?" if hint else "remove it"
            raise ConfigError(f"{path}: {name}: unknown or malformed section; {fix}")
    cfg = Config(host=host, plugins=plugins, path=path, sections=raw)
    supervision = raw.get("supervision", {})
    for name in supervision:
        if name not in SUPERVISION_DEFAULTS:
            hint = difflib.get_close_matches(name, SUPERVISION_DEFAULTS, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else "remove it"
            raise ConfigError(f"{path}: supervision.{name}: unknown key; {fix}")
    _check_supervision(path, "supervision", supervision)
    _check_store(path, raw.get("store", {}))
    retrier_from_config(raw.get("retry", {}), None, str(path))  # raises for a bad [retry]
    cfg.sync()  # validates [sync], raising ConfigError naming the key
    for plugin_id, table in plugins.items():
        _check_plugin(cfg, plugin_id, table)
    check_risk(str(path), raw.get("risk", {}), plugins)
    return cfg


def _check_supervision(path: Path, key: str, table: Mapping[str, Any]) -> None:
    """Types and ranges of the supervision keys present in ``table``."""
    for name in SUPERVISION_DEFAULTS.keys() & table.keys():
        value = table[name]
        minimum, count = _SUPERVISION_MINIMA.get(name, (0, False))
        if name == "memory_limit_mb" and value is None:
            continue
        if not _number(value) or (count and not isinstance(value, int)) or value < minimum:
            want = (f"a whole number >= {minimum}" if count else
                    "a number > 0" if minimum else "a non-negative number")
            raise ConfigError(f"{path}: {key}.{name}: got {value!r}; expected {want}")
    jitter = table.get("restart_jitter")
    if jitter is not None and jitter >= 1:
        raise ConfigError(f"{path}: {key}.restart_jitter: got {jitter!r}; expected a "
                          "fraction below 1 (0.2 spreads waits by +-20 %)")


def _check_store(path: Path, table: Mapping[str, Any]) -> None:
    for name, value in table.items():
        if name not in STORE_DEFAULTS:
            hint = difflib.get_close_matches(name, STORE_DEFAULTS, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else "remove it"
            raise ConfigError(f"{path}: store.{name}: unknown key; {fix}")
        whole = isinstance(STORE_DEFAULTS[name], int)
        if not _number(value) or value <= 0 or (whole and not isinstance(value, int)):
            want = "a whole number > 0" if whole else "a number > 0"
            raise ConfigError(f"{path}: store.{name}: got {value!r}; expected {want}")


def _host_table(path: Path, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: host must be a table ([host])")
    merged = dict(HOST_DEFAULTS)
    for key, value in table.items():
        if key not in HOST_DEFAULTS:
            hint = difflib.get_close_matches(key, HOST_DEFAULTS, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else "remove it"
            raise ConfigError(f"{path}: host.{key}: unknown key; {fix}")
        merged[key] = _typed(path, f"host.{key}", value, HOST_DEFAULTS[key])
    if merged["dispatch"] not in DISPATCH_MODES:
        raise ConfigError(f"{path}: host.dispatch: got {merged['dispatch']!r}; use one of "
                          f"{', '.join(DISPATCH_MODES)}")
    if merged["isolation"] not in ISOLATION_MODES:
        raise ConfigError(f"{path}: host.isolation: must be one of {', '.join(ISOLATION_MODES)}")
    if merged["interval"] <= 0:
        raise ConfigError(f"{path}: host.interval: must be a positive number of seconds")
    return merged


def _typed(path: Path, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
        want = "true or false"
    elif isinstance(default, (int, float)):
        ok = _number(value) and value >= 0
        want = "a non-negative number"
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        want = "a list of strings"
    else:
        ok = isinstance(value, str)
        want = "a string"
    if not ok:
        raise ConfigError(f"{path}: {key}: got {value!r}; expected {want}")
    return float(value) if isinstance(default, float) else value


def _number(value: Any) -> bool:
    """A real, finite number: not a bool, not NaN, not infinity."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


#: Keys of a ``[plugins.<id>]`` table the host reads; a plugin's own key one or two
#: edits away from one of these is taken for a typo (``enable``, ``verison``).
HOST_PLUGIN_KEYS = (*PLUGIN_DEFAULTS, "thresholds")


def edits(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb)))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _misspelt(cfg: Config, key: str, table: Mapping[str, Any]) -> None:
    for name in table:
        if name in HOST_PLUGIN_KEYS:
            continue
        near = sorted((edits(name, known), known) for known in HOST_PLUGIN_KEYS)
        if near and near[0][0] <= 2:
            raise ConfigError(f"{_where(cfg, f'{key}.{name}')}: did you mean "
                              f"'{near[0][1]}'? (a plugin's own key must not be this close "
                              "to a host key; rename it)")


def _nonfinite(path: Path, key: str, value: Any) -> None:
    """Reject NaN and infinity anywhere under ``key``: no setting means either."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: {key}: got {value!r}; expected a finite number")
    if isinstance(value, dict):
        for name, item in value.items():
            _nonfinite(path, f"{key}.{name}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _nonfinite(path, f"{key}[{index}]", item)


def _check_plugin(cfg: Config, plugin_id: str, table: Any) -> None:
    key = f"plugins.{plugin_id}"
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(cfg, key)}: must be a table ([{key}])")
    assert cfg.path is not None
    _misspelt(cfg, key, table)
    if not isinstance(table.get("thresholds", {}), dict):
        raise ConfigError(f"{_where(cfg, key)}.thresholds: must be a table "
                          f"([{key}.thresholds])")
    for name in ("enabled", "allow_prereleases"):
        if name in table:
            _typed(cfg.path, f"{key}.{name}", table[name], False)
    if "ping_timeout" in table:
        _typed(cfg.path, f"{key}.ping_timeout", table["ping_timeout"], 2.0)
        if table["ping_timeout"] <= 0:
            raise ConfigError(f"{_where(cfg, key)}.ping_timeout: must be > 0 seconds")
    _check_supervision(cfg.path, key, table)
    _check_limits(cfg.path, key, table)
    isolation = table.get("isolation")
    if isolation is not None and isolation not in ISOLATION_MODES:
        raise ConfigError(f"{_where(cfg, key)}.isolation: got {isolation!r}; "
                          f"expected one of {', '.join(ISOLATION_MODES)}")
    cfg.plugin(plugin_id)  # parses the pin, raising ConfigError when it is malformed


def _check_limits(path: Path, key: str, table: Mapping[str, Any]) -> None:
    """The intent limits (``max_quantity``, ``max_intents_per_bar``, ``symbols``)."""
    quantity, count = table.get("max_quantity"), table.get("max_intents_per_bar")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(
            quantity, (int, float)) or quantity <= 0):
        raise ConfigError(f"{path}: {key}.max_quantity: got {quantity!r}; expected a number > 0")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 0):
        raise ConfigError(f"{path}: {key}.max_intents_per_bar: got {count!r}; expected a "
                          "whole number >= 0")
    symbols = table.get("symbols")
    if symbols is not None and not (isinstance(symbols, list)
                                    and all(isinstance(s, str) for s in symbols)):
        raise ConfigError(f"{path}: {key}.symbols: got {symbols!r}; expected a list of "
                          'symbol strings (e.g. ["BTCUSD"])')
