"""``[risk]`` and ``[plugins.ID.risk]``: the risk limits of contract section 15, checked
when the config is loaded (``zepix_core.trading.risk`` judges the figures)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zepix_core.contract.errors import ConfigError
from zepix_core.loading.tables import RISK

#: ``[risk]`` keys and their defaults; 0 turns a limit off.
RISK_DEFAULTS: Mapping[str, Any] = RISK.defaults()  # declared in loading.tables
ACTIONS = ("pause", "alert")


@dataclass(frozen=True)
class RiskLimits:
    daily_loss_limit: float = 0.0
    max_drawdown_pct: float = 0.0
    action: str = "pause"
    starting_equity: float = 10_000.0

    @property
    def active(self) -> bool:
        return self.daily_loss_limit > 0 or self.max_drawdown_pct > 0

    @classmethod
    def of(cls, base: Mapping[str, object], override: Mapping[str, object] | None,
           where: str = "<config>", plugin_id: str = "") -> RiskLimits:
        """``[risk]`` merged with a plugin's ``risk`` table; ``ConfigError`` names a bad key."""
        merged = dict(RISK_DEFAULTS)
        for label, table in (("risk", base), (f"plugins.{plugin_id}.risk", override or {})):
            if not isinstance(table, Mapping):
                raise ConfigError(f"{where}: {label}: must be a table")
            for key, value in table.items():
                if key not in RISK_DEFAULTS:
                    raise ConfigError(f"{where}: {label}.{key}: unknown key; the keys are "
                                      f"{', '.join(RISK_DEFAULTS)}")
                merged[key] = value
        if merged["action"] not in ACTIONS:
            raise ConfigError(f"{where}: risk.action: {merged['action']!r}; use \"pause\" or "
                              "\"alert\"")
        for key in ("daily_loss_limit", "max_drawdown_pct", "starting_equity"):
            value = merged[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{where}: risk.{key}: {value!r}; expected a number >= 0")
        if merged["max_drawdown_pct"] >= 100:
            raise ConfigError(f"{where}: risk.max_drawdown_pct: {merged['max_drawdown_pct']}; "
                              "expected a percentage below 100")
        if merged["starting_equity"] <= 0:
            raise ConfigError(f"{where}: risk.starting_equity: must be > 0")
        return cls(float(merged["daily_loss_limit"]), float(merged["max_drawdown_pct"]),
                   str(merged["action"]), float(merged["starting_equity"]))


def check_risk(where: str, base: Any, plugins: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` for a bad ``[risk]`` or ``[plugins.ID.risk]`` table."""
    for plugin_id, table in plugins.items():
        override = table.get("risk") if isinstance(table, Mapping) else None
        RiskLimits.of(base if isinstance(base, Mapping) else {}, override, where, plugin_id)
    RiskLimits.of(base, None, where)
