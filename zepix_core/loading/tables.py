"""Every table of the config file, declared once (``contract.configschema``).

The validator (``loading.config``), ``zepix config show``/``get``, the key table of
docs/config.md and secret redaction all read these declarations. Subsystems read
their defaults from here; ``[retry]`` is declared beside its policies
(``retry.policy``), which sit below this layer.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from zepix_core.contract.configschema import Key, Table, redact_config, redact_value, secret_names
from zepix_core.contract.redact import redact_url
from zepix_core.retry.policy import RETRY_TABLE

ISOLATION_MODES = ("inprocess", "process")
#: ``[host] dispatch`` (execution/dispatch.py ``DISPATCH_MODES``, kept here: loading
#: imports nothing from execution).
DISPATCH_MODES = ("thread", "inline")
#: What a plugin id may look like (discovery refuses any other id).
PLUGIN_ID = re.compile(r"^[a-z][a-z0-9_]*$")



def listen_problem(text: str) -> str | None:
    """Why ``text`` is not ``HOST:PORT`` (``[::1]:8787`` for IPv6, ``""``: off), or None."""
    if text == "":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        return (f"got {text!r}; expected HOST:PORT such as \"127.0.0.1:8787\", or \"\" to "
                "turn the server off")
    return None


def _schemes(*schemes: str) -> Callable[[str], str | None]:
    def problem(url: str) -> str | None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in schemes and (parts.hostname or parts.scheme == "sqlite"):
            return None
        return (f"got {redact_url(url)!r}; expected a URL starting "
                f"{' or '.join(s + '://' for s in schemes)}")
    return problem


def _time_of_day(text: str) -> str | None:
    """``HH:MM`` on a 24-hour clock (the daily summary's UTC time)."""
    hours, _, minutes = text.partition(":")
    if (len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
            and int(hours) < 24 and int(minutes) < 60):
        return None
    return f"got {text!r}; expected a UTC time of day HH:MM such as \"08:00\""


def _specifier(text: str) -> str | None:
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return f"{text!r} is not a PEP 440 specifier (e.g. \"~=3.2\" or \">=6,<7\")"
    return None

HOST = Table("host", (
    Key("interval", "float", 30.0, "seconds between monitoring rounds", minimum=0, above=True),
    Key("allow_prereleases", "bool", False, "may pre-release plugin versions activate"),
    Key("isolation", "str", "inprocess", "default isolation of plugins without their own",
        choices=ISOLATION_MODES),
    Key("dispatch", "str", "thread", "on_bar on a dispatch thread, or \"inline\" on the "
        "bot's own thread (docs/embedding.md)", choices=DISPATCH_MODES, live=False),
    Key("self_test_every", "int", 10, "rounds between periodic self tests", minimum=0),
    Key("retention_days", "float", 30.0,
        "days health snapshots, resolved alerts and config history are kept", minimum=0),
    Key("market_seed", "int", 7, "seed of the bundled market replay", minimum=0, live=False),
    Key("market_symbols", "list[str]", ["BTCUSD", "ETHUSD"], "symbols of the bundled replay",
        live=False),
    Key("bars_per_round", "int", 5, "1m replay steps fed between monitoring rounds",
        minimum=0, live=False),  # zepix run paces its replay source by it at start
    Key("warmup_bars", "int", 240, "1m replay steps fed at start", minimum=0, live=False),
    Key("max_frame_mb", "float", 4.0, "largest reply frame a worker may send; larger kills it",
        minimum=0, live=False),
    Key("db_busy_timeout", "float", 30.0,
        "seconds a database write waits for a lock held elsewhere", minimum=0, live=False),
    Key("accuracy_horizon", "int", 5, "bars after an intent at which its direction is judged",
        minimum=0),
    Key("shutdown_timeout", "float", 30.0,
        "seconds from a stop (signal, --duration) to the end of zepix run's process",
        minimum=0, above=True, live=False),
), "the host itself")

#: Supervision keys: in ``[supervision]`` for every plugin, or a ``[plugins.<id>]`` table.
SUPERVISION = Table("supervision", (
    Key("max_restarts", "int", 3, "restarts per incident before giving up", minimum=1),
    Key("restart_backoff", "float", 1.0, "seconds before the first restart; doubles",
        minimum=0, above=True),
    Key("restart_backoff_cap", "float", 60.0, "longest wait between restarts", minimum=0, above=True),
    Key("restart_jitter", "float", 0.2, "spread of each wait (0.2: +-20 %)", minimum=0,
        maximum=1, below=True),
    Key("restart_intensity", "int", 5, "at most this many restarts ...", minimum=1),
    Key("restart_window", "float", 300.0, "... within this many seconds", minimum=0, above=True),
    Key("stable_after", "float", 120.0, "seconds up that end an incident", minimum=0),
    Key("hung_grace", "float", 30.0, "seconds HUNG before a stop and restart", minimum=0),
    Key("restart_on_stale", "float", None, "seconds STALE before a stop and restart "
        "(unset: never; the seeds' 'no heartbeat > 5 min: restart' is 300)", minimum=0,
        above=True),
    Key("stop_grace", "float", 1.0, "seconds between SIGTERM and SIGKILL of a worker",
        minimum=0),
    Key("memory_limit_mb", "float", None, "a worker's RSS above this ...", minimum=0, above=True),
    Key("memory_samples", "int", 3, "... in this many rounds in a row is restarted",
        minimum=1),
    Key("breaker_failures", "int", 5, "consecutive on_bar failures that open the breaker",
        minimum=1),
    Key("breaker_open_for", "float", 60.0, "seconds open before trial calls", minimum=0),
    Key("breaker_successes", "int", 2, "trial calls in a row that close it again",
        minimum=1),
), "restarts, backoff and the circuit breaker (docs/supervision.md)")

STORE = Table("store", (
    Key("probation_rounds", "int", 3, "healthy rounds a new version must pass", minimum=0, above=True),
    Key("canary_p95_ratio", "float", 3.0, "a candidate's on_bar p95 may be this many times "
        "the active's", minimum=0, above=True),
    Key("canary_p95_floor_ms", "float", 50.0, "... and is never judged slower under this",
        minimum=0, above=True),
), "version management (docs/operations.md)")

THRESHOLDS = Table("thresholds", (
    Key("p95_latency_ms", "float", 5000.0, "on_bar p95 above this: DEGRADED", minimum=0, above=True),
    Key("error_rate", "float", 0.05, "share of failed calls above this: DEGRADED",
        minimum=0.0, maximum=1.0, above=True),
    Key("min_calls", "int", 20, "calls before the error rate is judged", minimum=0, above=True),
    Key("memory_mb", "float", 500.0, "RSS above this: DEGRADED", minimum=0, above=True),
    Key("cpu_percent", "float", 80.0, "CPU above this: DEGRADED", minimum=0, above=True),
    Key("heartbeat_s", "float", 300.0, "seconds without activity: STALE", minimum=0, above=True),
    Key("hung_after", "int", 2, "missed pings in a row: HUNG", minimum=0, above=True),
), "health limits for every plugin; [plugins.<id>.thresholds] overrides (docs/health.md)")

ANOMALY = Table("anomaly", (
    Key("enabled", "bool", True, "learn baselines and alert on departures"),
    Key("sensitivity", "float", 4.0, "band half-width in robust standard deviations",
        minimum=0, above=True),
    Key("warmup", "int", 120, "rounds learned before anything is judged", minimum=1),
    Key("consecutive", "int", 3, "rounds out of band in a row that make an anomaly",
        minimum=1),
    Key("horizon_hours", "float", 24.0, "memory trend: alert when the limit is this close",
        minimum=0, above=True),
), "anomaly detection (docs/health.md); [plugins.<id>.anomaly] overrides")

ALERTS = Table("alerts", (
    Key("cooldown", "float", 300.0, "seconds before the same alert is sent again", minimum=0),
    Key("webhook_url", "url", None, "POST every alert here", live=False, secret=True,
        nonempty=True, check=_schemes("http", "https")),
    Key("webhook_timeout", "float", 10.0, "seconds a webhook call may take", live=False,
        minimum=0, above=True),
    Key("webhook_headers_file", "path", None, "file of 'Header: value' lines", live=False),
    Key("webhook_headers_env", "str", None, "environment variable of 'Header: value' lines",
        live=False),
    Key("alertmanager_url", "url", None, "Alertmanager base URL", live=False,
        check=_schemes("http", "https")),
    Key("alertmanager_resend", "float", 60.0, "seconds between resends of firing alerts",
        live=False, minimum=0, above=True),
), "alert delivery (docs/health.md)")

HTTP = Table("http", (
    Key("listen", "str", "127.0.0.1:8787", "HOST:PORT of the API; \"\" turns it off",
        check=listen_problem),
    Key("token_file", "path", None, "file holding the API token (else $ZEPIX_API_TOKEN, "
        "else <data dir>/api-token)", nonempty=True),
    Key("max_body", "int", 65536, "bytes a request body may have", minimum=1),
    Key("allowed_hosts", "list[str]", [], "Host names answered besides the listen address "
        "and localhost"),
    Key("viewer_token_file", "path", None, "file holding a token that only reads (else "
        "$ZEPIX_API_VIEWER_TOKEN)", nonempty=True),
    Key("reads_need_token", "bool", False, "reads need a token too (forced on for a "
        "non-loopback listen address)"),
), "the HTTP API (docs/http-api.md); a change restarts the server")

_CHATS = "a list of numeric chat ids such as [123456789]"

TELEGRAM = Table("telegram", (
    Key("token_file", "path", None, "file holding the bot token (else $ZEPIX_TELEGRAM_TOKEN)",
        nonempty=True),
    Key("allowed_chats", "list[int]", [], "chats whose members may command", words=_CHATS),
    Key("alert_chats", "list[int]", [], "chats alerts are sent to", words=_CHATS),
    Key("allowed_users", "list[int]", [], "users who may change things (/upgrade, "
        "/rollback, /restart)", words="a list of numeric user ids such as [123456789]"),
    Key("api_url", "url", "https://api.telegram.org/bot", "Bot API base URL",
        check=_schemes("http", "https")),
    Key("daily_summary", "str", None, "UTC time of day (HH:MM) of a daily summary to "
        "alert_chats (else allowed_chats): P&L, trades, incidents, versions changed",
        words='a time of day such as "08:00"', check=_time_of_day),
), "the Telegram bot (docs/telegram.md); a change restarts the bot")

SYNC = Table("sync", (
    Key("url", "url", None, "the central ledger: sqlite:///PATH or postgresql://... "
        "(default sqlite:///<data dir>/central.db)", nonempty=True,
        check=_schemes("sqlite", "postgresql", "postgres")),
    Key("interval", "float", 300.0, "seconds between syncs", minimum=0.001),
    Key("host_id", "str", None, "this host in the ledger (default: made once)",
        nonempty=True),
    Key("password_file", "path", None, "file holding the PostgreSQL password",
        nonempty=True),
    Key("batch", "int", 1000, "trades per ledger transaction", minimum=1),
    Key("warn_after", "int", 3, "failed syncs in a row: WARNING", minimum=1),
    Key("critical_after", "int", 6, "failed syncs in a row: CRITICAL", minimum=1),
    Key("connect_timeout", "float", 5.0, "seconds to connect to the ledger", minimum=1),
    Key("enabled", "bool", True,
        "the host's own syncs (timer, shutdown); false: only zepix sync --now"),
), "the central ledger (docs/plugin-databases.md); a change starts a sync on the new table")

RISK = Table("risk", (
    Key("daily_loss_limit", "float", 0.0, "quote currency lost within the UTC day (0: off)",
        minimum=0),
    Key("max_drawdown_pct", "float", 0.0, "% below the plugin's peak equity (0: off)",
        minimum=0, maximum=100, below=True),
    Key("action", "str", "pause", "what a breach does", choices=("pause", "alert")),
    Key("starting_equity", "float", 10_000.0, "the equity drawdown is measured from",
        minimum=0, above=True),
), "risk limits (contract section 15); [plugins.<id>.risk] overrides")

PLUGINDB = Table("plugindb", (
    Key("retention_days", "float", 0.0, "prune signals and closed, synced trades older "
        "than this many days (0: keep all)", minimum=0),
), "plugin databases (docs/plugin-databases.md)")

MARKET = Table("market", (
    Key("source", "str", "replay", "the market source of zepix run (its options beside it)",
        live=False),
), "the market source; other keys are the source's options (docs/sources.md)", open=True)

#: Keys of a ``[plugins.<id>]`` table the host reads (other keys are the plugin's own),
#: with the per-plugin ``thresholds`` and ``anomaly`` tables. None: the global value.
PLUGIN = Table("plugins.<id>", (
    Key("enabled", "bool", True, "activate this plugin"),
    Key("version", "str", None, "PEP 440 specifier the active version must satisfy",
        check=_specifier, words='a PEP 440 specifier string such as "~=3.2"'),
    Key("isolation", "str", None, "inprocess or process (default [host] isolation)",
        choices=ISOLATION_MODES),
    Key("ping_timeout", "float", 2.0, "seconds a health_ping may take", minimum=0, above=True),
    Key("allow_prereleases", "bool", None, "default [host] allow_prereleases"),
    *SUPERVISION.keys,
    Key("max_quantity", "float", None, "an intent's quantity above this is dropped",
        minimum=0, above=True),
    Key("max_intents_per_bar", "int", None, "more intents than this for one bar are dropped",
        minimum=0),
    Key("symbols", "list[str]", None, "intents for other symbols are dropped"),
), "one table per plugin id; keys not listed are the plugin's own settings", tables={
    "thresholds": Table("plugins.<id>.thresholds", tuple(
        Key(k.name, k.kind, None, k.doc, k.minimum, k.maximum, k.above, k.below)
        for k in THRESHOLDS.keys)),
    "anomaly": Table("plugins.<id>.anomaly", tuple(
        Key(k.name, k.kind, None, k.doc, k.minimum, k.maximum, k.above, k.below)
        for k in ANOMALY.keys)),
    "risk": Table("plugins.<id>.risk", tuple(
        Key(k.name, k.kind, None, k.doc, k.minimum, k.maximum, k.above, k.below, k.choices)
        for k in RISK.keys)),
}, open=True)

#: The top-level tables in file order (``plugins`` holds one ``PLUGIN`` table per id).
TABLES: Mapping[str, Table] = {t.name: t for t in (
    HOST, SUPERVISION, STORE, THRESHOLDS, ANOMALY, ALERTS, RETRY_TABLE, HTTP, TELEGRAM,
    SYNC, RISK, PLUGINDB, MARKET)}

#: Names of every key marked secret (redaction also hides ``*token*``/``*password*``).
SECRETS = secret_names([*TABLES.values(), PLUGIN])


def redact(document: Mapping[str, object]) -> dict[str, object]:
    """A config document (or part of one) as it may be shown, logged or stored: every key
    marked secret, or named ``*token*``/``*password*``, is ``***``; a URL loses its user
    information. The one redaction of config values (CLI, HTTP, history, database)."""
    return redact_config(document, SECRETS)


def hidden(key: str, value: object) -> object:
    """The value of the dotted ``key`` as it may be shown or stored (see ``redact``)."""
    leaf = key.rsplit(".", 1)[-1].strip('"')
    return redact_value(leaf, value, SECRETS)


def read_at_start() -> tuple[str, ...]:
    """Dotted keys (and ``table.`` prefixes) a running host does not apply live: every key
    declared ``live=False``, and the open ``[market]`` table's options."""
    def walk(table: Table, prefix: str) -> list[str]:
        keys = [f"{prefix}{k.name}" for k in table.keys if not k.live]
        for name, sub in table.tables.items():
            keys += walk(sub, f"{prefix}{name}.")
        return keys
    return ("market.", *(key for table in TABLES.values() for key in walk(table, f"{table.name}.")))
