"""Typed storage (issue 23 item 4): the plugin database's protocol matches the class
authors get at run time, and the host's readers of a plugin's file narrow what the
plugin wrote there instead of trusting it (the plugin owns the file)."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

from zepix_core import PluginContext, PluginDatabase, PluginDatabaseAPI
from zepix_core.contract.jsondoc import JSON
from zepix_core.plugindb import database_file, health_fields


def test_context_database_is_typed_by_the_public_protocol() -> None:
    hints = typing.get_type_hints(PluginContext)
    assert hints["database"] == PluginDatabaseAPI | None


def test_every_protocol_method_is_the_database_s_with_the_same_signature() -> None:
    names = [n for n, v in vars(PluginDatabaseAPI).items()
             if not n.startswith("_") and (callable(v) or isinstance(v, property))]
    assert {"open_trade", "close_trade", "record_signal", "migrate", "connection"} <= set(names)
    for name in names:
        declared, real = getattr(PluginDatabaseAPI, name), getattr(PluginDatabase, name)
        if isinstance(declared, property):
            assert isinstance(real, property), name
            continue
        # the parameters, names and defaults an author relies on (mypy checks the types)
        assert inspect.signature(declared).parameters == inspect.signature(real).parameters, name


def _db(tmp_path: Path) -> PluginDatabase:
    return PluginDatabase(database_file("p", tmp_path), "p").open()


def test_closed_trades_with_garbage_the_plugin_wrote_are_narrowed(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        good = db.open_trade("EURUSD", "buy", 2.0, 100.0, ts=1.0)
        db.close_trade(good.id, 101.0, ts=2.0)
        bad = db.open_trade("EURUSD", "buy", 1.0, 100.0, ts=3.0)
        db.close_trade(bad.id, 99.0, ts=4.0)
        with db.connection() as conn:  # the plugin's full SQL access to its own file
            conn.execute("UPDATE trades SET pnl = 'lots', closed_at = x'00' WHERE id = ?",
                         (bad.id,))
        rows = {r.id: r for r in db.closed_since(0)}
    finally:
        db.close()
    assert rows[good.id].pnl == 2.0 and rows[good.id].closed_at == 2.0
    assert rows[bad.id].pnl is None and rows[bad.id].closed_at is None
    assert all(isinstance(r.rev, int) for r in rows.values())


def test_saved_counts_with_garbage_give_zeros_not_a_crash(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.record_signal("EURUSD", "entry")
    db.close()  # saves the counts to the file
    with _db(tmp_path).connection() as conn:
        conn.execute("UPDATE db_stats SET queries = 'many', connections_max = 'x'")
    reader = PluginDatabase(database_file("p", tmp_path), "p")  # not opened: reads the file
    fields = health_fields(reader)
    assert fields["db_queries"] == 0 and fields["db_connections_max"] == 0
    assert fields["db_query_time_avg_ms"] == 0.0


_AFFINITY = {"INTEGER": int, "REAL": float, "TEXT": str}


def _decoded(value: JSON) -> None:
    """The type of a column kept as JSON text and handed back decoded."""


def test_every_row_type_is_its_table_as_the_migrations_leave_it(tmp_path: Path) -> None:
    from zepix_core.storage import Store
    from zepix_core.storage.rows import DECODED, TABLES

    store = Store(tmp_path / "zepix.db")
    try:
        for table, row_type in TABLES.items():
            columns = store.query(f"PRAGMA table_info({table})")
            hints = typing.get_type_hints(row_type)
            assert set(hints) == {c["name"] for c in columns}, table
            for c in columns:
                if (table, c["name"]) in DECODED:  # JSON text, handed back decoded
                    assert c["type"] == "TEXT", (table, c["name"])
                    assert hints[c["name"]] == typing.get_type_hints(_decoded)["value"]
                    continue
                want = _AFFINITY[c["type"]]
                if not c["notnull"] and not c["pk"]:
                    want = want | None
                assert hints[c["name"]] == want, (table, c["name"])
    finally:
        store.close()


def test_the_store_is_every_repository_a_subsystem_is_given() -> None:
    from zepix_core.storage import Store, repos

    protocols = [v for v in vars(repos).values()
                 if isinstance(v, type) and getattr(v, "_is_protocol", False)]
    assert {p.__name__ for p in protocols} >= {"OperatorRepo", "GateRepo"}
    for protocol in protocols:
        for name, declared in vars(protocol).items():
            if name.startswith("_") or not callable(declared):
                continue
            real = getattr(Store, name)
            assert (inspect.signature(declared).parameters
                    == inspect.signature(real).parameters), (protocol.__name__, name)
