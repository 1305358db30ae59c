"""The database schema, as an ordered list of migrations.

Each migration runs once, in its own transaction, and bumps ``PRAGMA
user_version``; a database is never edited by hand or by other modules.
Times are REAL epoch seconds (UTC); structured payloads are JSON text.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: core history, health, alerts, version store and operator requests.
    """
    CREATE TABLE hosts (
        host_id      TEXT PRIMARY KEY,
        pid          INTEGER NOT NULL,
        started_at   REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        stopped_at   REAL,
        stop_reason  TEXT
    );
    CREATE TABLE plugin_versions (
        plugin_id    TEXT NOT NULL,
        version      TEXT NOT NULL,
        distribution TEXT NOT NULL,
        source       TEXT NOT NULL DEFAULT 'environment',
        first_seen   REAL NOT NULL,
        last_active  REAL,
        deprecated   INTEGER NOT NULL DEFAULT 0,
        gate_passed  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (plugin_id, version)
    );
    CREATE TABLE activations (
        id                  INTEGER PRIMARY KEY,
        plugin_id           TEXT NOT NULL,
        version             TEXT NOT NULL,
        distribution        TEXT NOT NULL,
        host_id             TEXT NOT NULL REFERENCES hosts(host_id),
        activated_at        REAL NOT NULL,
        activation_reason   TEXT NOT NULL,
        deactivated_at      REAL,
        deactivation_reason TEXT
    );
    CREATE INDEX activations_plugin ON activations(plugin_id, activated_at);
    CREATE INDEX activations_open ON activations(deactivated_at) WHERE deactivated_at IS NULL;
    CREATE TABLE plugin_status (
        plugin_id    TEXT PRIMARY KEY,
        distribution TEXT NOT NULL,
        version      TEXT NOT NULL,
        state        TEXT NOT NULL,
        reason       TEXT,
        updated_at   REAL NOT NULL
    );
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        ts        REAL NOT NULL,
        plugin_id TEXT NOT NULL,
        kind      TEXT NOT NULL,
        version   TEXT,
        actor     TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
    CREATE INDEX events_plugin ON events(plugin_id, ts);
    CREATE TABLE health_snapshots (
        id        INTEGER PRIMARY KEY,
        plugin_id TEXT NOT NULL,
        ts        REAL NOT NULL,
        status    TEXT NOT NULL,
        data      TEXT NOT NULL
    );
    CREATE INDEX snapshots_plugin ON health_snapshots(plugin_id, ts);
    CREATE TABLE alerts (
        id           INTEGER PRIMARY KEY,
        fingerprint  TEXT NOT NULL,
        plugin_id    TEXT NOT NULL,
        kind         TEXT NOT NULL,
        level        TEXT NOT NULL,
        message      TEXT NOT NULL,
        fired_at     REAL NOT NULL,
        last_sent_at REAL NOT NULL,
        repeats      INTEGER NOT NULL DEFAULT 0,
        resolved     INTEGER NOT NULL DEFAULT 0,
        resolved_at  REAL,
        details      TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_open ON alerts(fingerprint) WHERE resolved = 0;
    CREATE TABLE alert_deliveries (
        id        INTEGER PRIMARY KEY,
        alert_id  INTEGER REFERENCES alerts(id),
        sink      TEXT NOT NULL,
        delivered INTEGER NOT NULL,
        error     TEXT,
        ts        REAL NOT NULL
    );
    CREATE TABLE requests (
        id           INTEGER PRIMARY KEY,
        plugin_id    TEXT NOT NULL,
        action       TEXT NOT NULL,
        version      TEXT,
        force        INTEGER NOT NULL DEFAULT 0,
        actor        TEXT NOT NULL,
        requested_at REAL NOT NULL,
        applied_at   REAL,
        outcome      TEXT
    );
    CREATE INDEX requests_pending ON requests(plugin_id) WHERE applied_at IS NULL;
    """,
    # 2: version management: the version each plugin should run, probations in
    # progress, and canary runs with the intents both sides produced.
    """
    CREATE TABLE desired_versions (
        plugin_id  TEXT PRIMARY KEY,
        version    TEXT NOT NULL,
        previous   TEXT,
        request_id INTEGER REFERENCES requests(id),
        actor      TEXT NOT NULL,
        reason     TEXT NOT NULL,
        set_at     REAL NOT NULL
    );
    CREATE TABLE probations (
        plugin_id  TEXT PRIMARY KEY,
        version    TEXT NOT NULL,
        previous   TEXT,
        rounds     INTEGER NOT NULL,
        rounds_ok  INTEGER NOT NULL DEFAULT 0,
        started_at REAL NOT NULL
    );
    CREATE TABLE canary_runs (
        id           INTEGER PRIMARY KEY,
        plugin_id    TEXT NOT NULL,
        version      TEXT NOT NULL,
        baseline     TEXT,
        state        TEXT NOT NULL,
        request_id   INTEGER REFERENCES requests(id),
        requested_at REAL NOT NULL,
        started_at   REAL,
        ended_at     REAL,
        end_actor    TEXT,
        end_reason   TEXT,
        stats        TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX canary_open ON canary_runs(plugin_id) WHERE ended_at IS NULL;
    CREATE TABLE canary_intents (
        id        INTEGER PRIMARY KEY,
        canary_id INTEGER NOT NULL REFERENCES canary_runs(id),
        arm       TEXT NOT NULL,
        bar_ts    REAL NOT NULL,
        symbol    TEXT NOT NULL,
        side      TEXT NOT NULL,
        quantity  REAL NOT NULL,
        price     REAL,
        reason    TEXT NOT NULL
    );
    CREATE INDEX canary_intents_run ON canary_intents(canary_id, arm);
    """,
    # 3: retention deletes snapshots and resolved alerts by age; without these
    # indexes the hourly prune scans both tables.
    """
    CREATE INDEX snapshots_ts ON health_snapshots(ts);
    CREATE INDEX alerts_resolved_at ON alerts(resolved_at) WHERE resolved = 1;
    """,
    # retries: outcomes of outbound operations counted per operation and per failure
    # category, kept until `zepix retries --reset` (retry issue).
    """
    CREATE TABLE retry_stats (
        operation             TEXT PRIMARY KEY,
        calls                 INTEGER NOT NULL DEFAULT 0,
        attempts              INTEGER NOT NULL DEFAULT 0,
        first_try_successes   INTEGER NOT NULL DEFAULT 0,
        retry_successes       INTEGER NOT NULL DEFAULT 0,
        exhausted             INTEGER NOT NULL DEFAULT 0,
        permanent_failures    INTEGER NOT NULL DEFAULT 0,
        stopped               INTEGER NOT NULL DEFAULT 0,
        total_delay           REAL NOT NULL DEFAULT 0,
        consecutive_exhausted INTEGER NOT NULL DEFAULT 0,
        last_error            TEXT,
        last_error_at         REAL,
        updated_at            REAL NOT NULL
    );
    CREATE TABLE retry_categories (
        operation   TEXT NOT NULL,
        category    TEXT NOT NULL,
        failures    INTEGER NOT NULL DEFAULT 0,
        gave_up     INTEGER NOT NULL DEFAULT 0,
        total_delay REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (operation, category)
    );
    """,
    # issue 19: operator aborts of canaries were recorded as 'canary_abortd'; the
    # documented kind is 'canary_aborted'.
    """
    UPDATE events SET kind = 'canary_aborted' WHERE kind = 'canary_abortd';
    """,
    # anomaly detection (issue 17): each plugin's learned baselines, as one JSON
    # state, so a restarted host does not relearn from zero.
    """
    CREATE TABLE anomaly_baselines (
        plugin_id  TEXT PRIMARY KEY,
        state      TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # sync: the sync manager's cursor and state per plugin database, its runs, and
    # this host's identity in the central ledger (plugin-database issue).
    """
    CREATE TABLE sync_identity (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        host_id TEXT NOT NULL
    );
    CREATE TABLE sync_state (
        plugin_id            TEXT PRIMARY KEY,
        database             TEXT NOT NULL,
        rev                  INTEGER NOT NULL DEFAULT 0,
        rows                 INTEGER NOT NULL DEFAULT 0,
        last_success         REAL,
        last_attempt         REAL,
        lag_seconds          REAL,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error           TEXT,
        last_failure         REAL
    );
    CREATE TABLE sync_runs (
        id         INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        ended_at   REAL,
        trigger    TEXT NOT NULL,
        target     TEXT NOT NULL,
        ok         INTEGER,
        rows       INTEGER NOT NULL DEFAULT 0,
        plugins    INTEGER NOT NULL DEFAULT 0,
        failed     INTEGER NOT NULL DEFAULT 0,
        failed_tries INTEGER NOT NULL DEFAULT 0,
        error      TEXT
    );
    CREATE INDEX sync_runs_started ON sync_runs(started_at);
    """,
    # (issue 11) Fills the embedding bot reported, so a restarted host keeps each
    # plugin's positions and P&L; and the signal accuracy counters it judged.
    """
    CREATE TABLE fills (
        id        INTEGER PRIMARY KEY,
        host_id   TEXT NOT NULL,
        plugin_id TEXT NOT NULL,
        intent_id TEXT NOT NULL,
        symbol    TEXT NOT NULL,
        side      TEXT NOT NULL,
        quantity  REAL NOT NULL,
        price     REAL NOT NULL,
        time      REAL NOT NULL,
        fee       REAL NOT NULL
    );
    CREATE INDEX fills_plugin ON fills(plugin_id, id);
    CREATE TABLE signal_accuracy (
        plugin_id TEXT PRIMARY KEY,
        hits      INTEGER NOT NULL,
        judged    INTEGER NOT NULL
    );
    """,
    # (issue 15) Every config change a host or `zepix config set` made or refused, for
    # `zepix config history`; pruned under [host] retention_days.
    """
    CREATE TABLE config_changes (
        id        INTEGER PRIMARY KEY,
        timestamp REAL NOT NULL,
        key       TEXT NOT NULL,
        old       TEXT,
        new       TEXT,
        status    TEXT NOT NULL,
        reason    TEXT,
        by        TEXT NOT NULL
    );
    CREATE INDEX config_changes_ts ON config_changes(timestamp);
    """,
    # (issue 28) Operator pauses: a paused plugin gets no bars and none of its intents
    # are returned; kept across restarts until `zepix resume`.
    """
    CREATE TABLE pauses (
        plugin_id TEXT PRIMARY KEY,
        reason    TEXT NOT NULL,
        actor     TEXT NOT NULL,
        paused_at REAL NOT NULL
    );
    """,
    # (issue 24) What each store version's files hashed to when it was installed: kept
    # here, not beside the files, so whoever can write the store cannot rewrite it.
    """
    CREATE TABLE store_digests (
        dir         TEXT PRIMARY KEY,
        sha256      TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
    # (issue 28) Silences: an alert of a silenced plugin (and kind) is recorded but not
    # delivered until the silence expires or is removed.
    """
    CREATE TABLE silences (
        id         INTEGER PRIMARY KEY,
        plugin_id  TEXT NOT NULL,
        kind       TEXT,
        until      REAL NOT NULL,
        reason     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        created_at REAL NOT NULL,
        removed_at REAL
    );
    CREATE INDEX silences_until ON silences(until);
    """,
    # (issue 25) Sync progress per plugin AND per ledger target: a new [sync] url starts
    # from 0, so the new ledger gets every trade; the status row names its target.
    """
    CREATE TABLE sync_cursors (
        plugin_id TEXT NOT NULL,
        target    TEXT NOT NULL,
        rev       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (plugin_id, target)
    );
    ALTER TABLE sync_state ADD COLUMN target TEXT;
    """,
    # (issue 25) The config each running host uses now (defaults in, secrets hidden), for
    # `zepix config show --running`: one row per host, replaced at start and each reload.
    """
    CREATE TABLE config_in_force (
        host_id    TEXT PRIMARY KEY,
        document   TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # (issue 22) What became of every bar a host was fed, per plugin (host.bars): its
    # totals, replaced each round. kind: fed (plugin '', detail the timeframe), offered
    # (detail ''), dropped (detail the reason).
    """
    CREATE TABLE bar_counts (
        host_id   TEXT NOT NULL,
        plugin_id TEXT NOT NULL,
        kind      TEXT NOT NULL,
        detail    TEXT NOT NULL,
        bars      INTEGER NOT NULL,
        PRIMARY KEY (host_id, plugin_id, kind, detail)
    );
    """,
    # (issue 28) The Telegram daily summary: one row per scheduled time it was sent at
    # (``due``, epoch seconds), so it goes once a day, across restarts of the host.
    """
    CREATE TABLE daily_summaries (
        due     REAL PRIMARY KEY,
        sent_at REAL NOT NULL,
        chats   TEXT NOT NULL,
        text    TEXT NOT NULL
    );
    """,
    # (issue 28) What each version says about itself (the seeds' version database):
    # from its plugin_version reply when it ran, else its distribution's metadata and
    # zepix-plugin.toml at install. features is a JSON list.
    """
    ALTER TABLE plugin_versions ADD COLUMN commit_id TEXT;
    ALTER TABLE plugin_versions ADD COLUMN author TEXT;
    ALTER TABLE plugin_versions ADD COLUMN features TEXT;
    ALTER TABLE plugin_versions ADD COLUMN build_date TEXT;
    ALTER TABLE plugin_versions ADD COLUMN release_notes TEXT;
    """,
]
