"""Hook specifications: the contract between the host and its plugins.

Each docstring is the contract for that hook: arguments, return shape, the
deadline the host gives it, when it is called and what happens when it raises.
docs/hooks.md is generated from these docstrings (``python -m zepix_core.authoring.hookdoc``)
and a test fails when the two drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pluggy

from zepix_core.contract.model import Alert, Bar, Fill, PluginContext

PROJECT = "zepix"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Hooks every plugin must implement: the health surface of the contract.
REQUIRED_HOOKS = ("plugin_version", "health_ping", "get_metrics", "self_test")

#: Default deadline in seconds for each plugin hook; the config may override
#: ``ping_timeout`` (health_ping, get_metrics) per plugin.
DEFAULT_DEADLINES: Mapping[str, float] = {
    "plugin_version": 2.0,
    "health_ping": 2.0,
    "get_metrics": 2.0,
    "self_test": 10.0,
    "activate": 10.0,
    "deactivate": 5.0,
    "on_bar": 1.0,
    "plugin_settings": 2.0,
    "on_fill": 1.0,
    "config_changed": 2.0,
    "plugin_restarted": 2.0,
}


class PluginSpec:
    """Hooks the host calls on each strategy plugin."""

    @hookspec(firstresult=True)
    def plugin_version(self) -> str | Mapping[str, object]:
        """Report the plugin's version and what it needs.

        Returns a PEP 440 version string, or a mapping with ``version``
        (required), ``requires_api`` (a PEP 440 specifier on
        ``zepix_core.API_VERSION``), ``requires_db_schema`` (a PEP 440
        specifier on ``zepix_core.DB_SCHEMA_VERSION``, the shape of the
        tables of ``context.database``), ``requires`` (mapping plugin id ->
        specifier), ``features`` (list of str), ``commit``, ``build_date``
        (ISO 8601), ``author`` and ``release_notes`` (what changed in this
        version, plain text). The host keeps ``commit``, ``author``,
        ``features``, ``build_date`` and ``release_notes`` per version in its
        version database (``zepix versions ID``, Telegram ``/version``);
        without them it takes what the distribution says (``Author`` of its
        metadata, the commit pip recorded for a VCS install, and the same keys
        in ``zepix-plugin.toml``).

        Called at discovery, before activation, and now and then while the
        plugin runs so the host notices a changed plugin. Deadline 2 s. The
        version must equal the distribution's version; a mismatch is
        reported. A call that raises, times out or returns another shape, or
        an invalid version, makes the plugin ``REJECTED``.
        """

    @hookspec(firstresult=True)
    def plugin_settings(self) -> Sequence[Mapping[str, object]] | None:
        """Declare the plugin's own settings (optional hook).

        Returns a list of settings, each a mapping with ``name``, ``type``
        (``int``, ``float``, ``bool``, ``str`` or ``list`` of strings),
        ``default``, and optional ``min``, ``max``, ``choices`` and
        ``description`` (``zepix_core.SettingSpec``).

        Called before activation, on every (re)start. Deadline 2 s. The host
        checks the plugin's ``[plugins.<id>]`` table against it: a wrong type,
        a value out of range or a key that is neither declared nor the host's
        (with "did you mean") makes the plugin ``REJECTED`` with a one-line
        reason naming the file and key. ``activate`` then receives every
        declared setting, typed, with the defaults filled in. A plugin without
        the hook gets its table unchecked. A malformed declaration, an
        exception or a timeout makes the plugin ``REJECTED``.
        """

    @hookspec(firstresult=True)
    def health_ping(self, now: float) -> bool | Mapping[str, object]:
        """Answer a liveness check.

        ``now`` is the host's wall-clock time in epoch seconds. Returns
        ``True``/``False``, or a mapping with ``ok`` (bool) and optional
        ``last_activity`` (epoch seconds of the plugin's last real work) and
        ``detail`` (str).

        Called once per monitoring round. Deadline 2 s (``ping_timeout`` in
        the plugin's config). A call past its deadline counts as a miss; the
        status becomes ``HUNG`` after consecutive misses. ``ok`` false or an
        exception counts as an error; ``last_activity`` older than the
        heartbeat limit makes the plugin ``STALE``. Never called while one of
        the plugin's other hooks runs (``on_bar`` included; see ``on_bar``).
        """

    @hookspec(firstresult=True)
    def get_metrics(self) -> Mapping[str, int | float]:
        """Report counters of the plugin's own work.

        Returns a mapping of metric name -> int or float. Recognised names:
        ``signals_processed``, ``orders_placed``, ``wins``, ``losses``,
        ``errors``, ``warnings``; any other numeric names are kept as custom
        metrics. Counters are cumulative since activation.

        Called once per monitoring round. Deadline 2 s (``ping_timeout``). A
        non-mapping return or a non-numeric value is recorded as an error of
        the plugin; the numeric entries of a partly wrong mapping are kept.
        """

    @hookspec(firstresult=True)
    def self_test(self) -> bool | Mapping[str, object]:
        """Run the plugin's own checks; must be idempotent and side-effect free.

        Returns ``True``/``False``, or a mapping with ``passed`` (bool) and
        optional ``checks``: a list of mappings with ``name``, ``passed`` and
        ``detail``.

        Called at activation, every N monitoring rounds and by
        ``zepix self-test``. Deadline 10 s. An exception or a wrong shape
        counts as a failed self test.
        """

    @hookspec(firstresult=True)
    def activate(self, context: PluginContext, config: Mapping[str, object]) -> None:
        """Start the plugin (optional hook).

        ``context`` carries the plugin id, its version, the host API version,
        a private data directory and ``database``, the plugin's own
        ``PluginDatabase`` (typed by the ``PluginDatabaseAPI`` protocol;
        trades, signals, daily statistics; see
        docs/plugin-databases.md); ``config`` is the plugin's table from
        the host's TOML config (``[plugins.<id>]``, host keys included), with
        the settings declared by ``plugin_settings`` typed and defaulted.

        Called once, in dependency order, before any ``on_bar``. Deadline
        10 s. If it raises or times out the plugin is ``FAILED`` with the
        reason and never receives market data; other plugins go on. A
        plugin database the host finds corrupt makes the plugin ``FAILED``
        before this hook is called, with the file named in the reason.
        """

    @hookspec(firstresult=True)
    def deactivate(self, reason: str) -> None:
        """Stop the plugin and release what it holds (optional hook).

        ``reason`` says why: ``shutdown``, ``config``, ``failure``,
        ``restart``, ``upgrade``. Called in reverse dependency order at
        shutdown and whenever the host deactivates the plugin. Deadline 5 s.
        An exception is recorded; the host deactivates the plugin anyway.
        """

    @hookspec(firstresult=True)
    def on_bar(self, bar: Bar) -> Sequence[Mapping[str, object]] | None:
        """Process one closed market bar; the strategy's work hook (optional).

        ``bar`` is a closed OHLCV bar of one symbol and timeframe (``1m``,
        ``5m``, ``15m``, ``1h``); a plugin ignores timeframes it does not
        trade. Returns ``None`` or a list of trade intents, each a mapping
        with ``symbol``, ``side`` (``buy`` or ``sell``), ``quantity`` (> 0)
        and optional ``price`` and ``reason``.

        Called for every closed bar while the plugin is active. Deadline 1 s.
        The host measures the latency and errors of every call; an exception,
        a timeout or a wrong-shaped return counts as an error of the plugin
        and its intents are dropped.

        The host gives every intent an id, the plugin id and the bar's time, and
        checks it against the plugin's limits in its config table
        (``max_quantity``, ``max_intents_per_bar``, ``symbols``): an intent over a
        limit is dropped, counted as an error and named in the health reasons.
        In-process plugins are called inline on the host's dispatch thread; a call
        past its deadline is abandoned with that thread, and the plugin gets no
        further bars until the call returns (it turns ``HUNG``).

        Threads: the host never runs two hooks of one plugin at the same time.
        ``on_bar`` (dispatch thread) and ``on_fill`` take turns on the host's loop
        lock; the monitoring round's health hooks (the plugin's runner thread) run
        with that lock let go, and a bar for a plugin inside them waits for them
        briefly or is kept and handed over after them (docs/embedding.md). A plugin
        still inside a call past its deadline gets no bar or fill until it returns;
        a worker process serves one call at a time. The
        thread may differ from call to call, so keep no thread-local state.
        """

    @hookspec(firstresult=True)
    def on_fill(self, fill: Fill) -> None:
        """Learn that the bot executed one of this plugin's intents (optional hook).

        ``fill`` is a ``zepix_core.Fill``: ``intent_id`` (the id the host gave
        the intent), ``quantity``, ``price``, ``time`` (epoch seconds), ``fee``,
        and the intent's ``symbol`` and ``side``, filled in by the host. The
        return value is ignored.

        Called once per ``report_fill`` of the embedding bot, after the host
        has booked the fill into the plugin's positions and realised P&L.
        Deadline 1 s. An exception or a missed deadline is recorded as an
        error of the plugin; the fill stays booked.
        """

    @hookspec(firstresult=True)
    def config_changed(self, changes: Mapping[str, list[object]]) -> bool:
        """Take new values of this plugin's own settings live (optional hook).

        ``changes`` maps dotted keys (``plugins.combined_v3.risk_per_trade``) to
        ``[old, new]`` (None: the key was not set). Only the plugin's own keys of
        its ``[plugins.<id>]`` table and ``symbols`` are passed, never the
        host's (``enabled``, ``version``, ``isolation``, supervision keys).

        Called on the host's round thread when a running host applies an edited
        config file (``zepix config set``, an editor, SIGHUP, ``zepix config
        reload``). Return True when the new values are in force; anything else
        (False, None, no implementation, an exception, a missed deadline of 2 s)
        restarts the plugin alone with its new table. Either way the config
        history records what happened.
        """


    @hookspec(firstresult=True)
    def plugin_restarted(self, reason: str, restarts: int) -> None:
        """Learn that this instance replaces an earlier one of this host (optional hook).

        ``reason`` says why the host stopped the earlier instance and started this
        one, as the activation history records it: ``restart 1 of 3 after crash:
        worker pid 4711 exited with code 1`` (the supervisor, after a crash, a hang,
        a stale heartbeat with ``restart_on_stale``, a memory limit), ``operator
        restart (request 7 by cli:alice)``, ``config: its settings changed``, an
        upgrade or a rollback. ``restarts`` counts the instances this host started
        after the first one, this one included (1 for the first restart).

        Called once, right after ``activate`` of the new instance and before its
        first ``on_bar``; never at the first activation of a host's run. Deadline
        2 s. The return value is ignored; an exception or a missed deadline is
        recorded as an error of the plugin, which stays active.
        """


class HostSpec:
    """Hooks of the host itself; built-in behaviour implements them too."""

    @hookspec
    def snapshot_fields(self, plugin_id: str) -> Mapping[str, object] | None:
        """Further fields for the health snapshot of plugin ``plugin_id`` in this round.

        Every implementation is called and its mapping merged into the record, in the
        order they were registered. The host's subsystems implement it: the
        supervisor gives ``breaker`` and ``breaker_detail``, the trades book
        ``host_measured``, the host ``uptime_seconds`` and the plugin database's
        ``db_*`` figures. Called on the host's loop thread, once per plugin per
        round and at persist-now; it must answer at once and not raise (an
        exception ends the round's bookkeeping, as a storage error would).
        """

    @hookspec
    def alert_sink(self, alert: Alert) -> None:
        """Deliver one alert event (a new alert, a repeat, or a resolution).

        Implemented by the built-in log sink and webhook sink, and by any
        plugin registered on the host's own plugin manager. Each sink is
        called from its own delivery thread, never from the monitoring round,
        so a slow sink delays neither monitoring nor another sink. A sink
        whose object has a ``retry_operation`` attribute (the webhook sink:
        ``"sink.webhook"``) is retried under that operation's policy when it
        raises (``[retry."OPERATION"]``); any other sink is called once. A
        failure is recorded as an undelivered delivery with its error.
        """

