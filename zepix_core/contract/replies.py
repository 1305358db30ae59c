"""Typed shapes of what a plugin's hooks return, for plugin authors and mypy.

Annotate your hook implementations with these and mypy checks your replies::

    from zepix_core import HealthReply, VersionInfo, hookimpl

    class MyStrategy:
        @hookimpl
        def plugin_version(self) -> VersionInfo:
            return {"version": "1.2.0", "requires_api": ">=1.0,<2"}

        @hookimpl
        def health_ping(self, now: float) -> HealthReply:
            return {"ok": True, "last_activity": self.last_bar_time}

The host never trusts these annotations: every reply is checked at the boundary.
(No ``from __future__ import annotations`` here: ``Required`` must be evaluated for
the runtime ``__required_keys__``.)
"""


from typing import Literal, NotRequired, Required, TypedDict


class VersionInfo(TypedDict, total=False):
    """``plugin_version``'s mapping form (a plain version string is also accepted)."""

    version: Required[str]
    requires_api: str
    requires_db_schema: str
    requires: dict[str, str]
    features: list[str]
    commit: str
    build_date: str
    author: str
    release_notes: str


class HealthReply(TypedDict, total=False):
    """``health_ping``'s mapping form (``True``/``False`` is also accepted)."""

    ok: Required[bool]
    last_activity: float
    detail: str


class KnownMetrics(TypedDict, total=False):
    """The metric names the host recognises in ``get_metrics``; others are kept as custom."""

    signals_processed: int
    orders_placed: int
    wins: int
    losses: int
    errors: int
    warnings: int


#: ``get_metrics``' reply: metric name -> number (the ``KnownMetrics`` names and any others).
Metrics = dict[str, int | float]


class CheckReport(TypedDict):
    """One check inside ``SelfTestReply``."""

    name: str
    passed: bool
    detail: NotRequired[str]


class SelfTestReply(TypedDict, total=False):
    """``self_test``'s mapping form (``True``/``False`` is also accepted)."""

    passed: Required[bool]
    checks: list[CheckReport]


class IntentReply(TypedDict, total=False):
    """One trade intent in ``on_bar``'s list."""

    symbol: Required[str]
    side: Required[Literal["buy", "sell"]]
    quantity: Required[float]
    price: float | None
    reason: str


class SettingSpec(TypedDict, total=False):
    """One setting a plugin declares in ``plugin_settings``.

    ``type`` is ``int``, ``float``, ``bool``, ``str`` or ``list`` (a list of
    strings); ``min``/``max`` bound numbers, ``choices`` lists the allowed values.
    """

    name: Required[str]
    type: Required[Literal["int", "float", "bool", "str", "list"]]
    default: Required[int | float | bool | str | list[str] | None]
    min: float
    max: float
    choices: list[int | float | str]
    description: str


__all__ = ["CheckReport", "HealthReply", "IntentReply", "KnownMetrics", "Metrics",
           "SelfTestReply", "SettingSpec", "VersionInfo"]
