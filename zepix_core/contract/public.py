"""What is public: the one list of names a plugin (or its tests) may import.

Everything else in ``zepix_core`` is the host's and may change in any release.
The conformance check ``public_api`` fails a plugin that imports anything else
and names the public replacement; docs/plugin-authoring.md ("What is public")
shows this list, and a test keeps it equal to each module's ``__all__``.
"""

from __future__ import annotations

from collections.abc import Mapping

PUBLIC: Mapping[str, tuple[str, ...]] = {
    # hooks, records, reply shapes, errors, the plugin database, the embedding API
    "zepix_core": (
        "API_VERSION", "Alert", "AlertLevel", "Bar", "CheckReport", "ConfigError",
        "DB_SCHEMA_VERSION", "DailyStats", "DatabaseLocked", "Fill", "HealthReply",
        "HealthStatus", "Intent", "IntentError", "IntentReply", "KnownMetrics", "Metrics",
        "Migration", "PluginContext", "PluginDatabase", "PluginDatabaseAPI", "PluginError", "PluginState",
        "SelfTestReply", "SettingSpec", "StorageError", "Trade", "VersionInfo", "ZepixError",
        "hookimpl", "open_host", "open_host_async",
    ),
    # a plugin's tests: the conformance suite, fake clock, hosts, bars
    "zepix_core.testing": (
        "Bar", "CHECK_NAMES", "CheckResult", "FakeClock", "Finding", "MarketReplay",
        "PluginConformance", "PluginHandle", "PluginLoader", "PluginSpec", "check_plugin",
        "enforce", "load_installed", "load_instance", "make_bar", "make_host",
    ),
    # paper trading for strategies that keep their own positions
    "zepix_core.paper": (
        "Check", "Clock", "Direction", "Fill", "PaperBroker", "PaperSession", "PaperStrategy",
        "Position", "SESSION_SETTINGS", "SessionSettings", "Side", "Strategy", "Trade",
        "accounting_check", "bar_problem", "round_trips", "self_test_report",
        "synthetic_bars",
    ),
}


def replacement(name: str) -> str | None:
    """``from MODULE import NAME`` for a public ``name``, else None."""
    for module, names in PUBLIC.items():
        if name in names:
            return f"from {module} import {name}"
    return None
