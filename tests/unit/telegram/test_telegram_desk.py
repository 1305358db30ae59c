"""Telegram /pause and /resume against the Bot API stand-in (issue 28): /pause acts at
once and the paused plugin gets no bars; /resume asks for Confirm first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_telegram import ALICE, BOB, OPS, Chat, chat, rig, standin  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")


def beta_bars(chat: Chat) -> int:  # noqa: F811
    runner: Any = chat.rig.host.slots["beta"].runner
    [plugin] = [p for p in runner.pm.get_plugins() if hasattr(p, "bars")]
    return int(plugin.bars)


def test_pause_acts_at_once_and_resume_asks_first(chat: Chat) -> None:  # noqa: F811
    answer = chat.ask("/pause beta exchange maintenance", user=BOB)  # no Confirm
    assert "Paused: beta" in answer, answer
    host = chat.rig.host
    assert "beta" in host.pauses  # before the next round: the bars of this one
    before = beta_bars(chat)
    chat.rig.rounds(2)
    assert beta_bars(chat) == before
    row = host.store.pauses()["beta"]
    assert row["reason"] == "exchange maintenance" and row["actor"] == f"telegram:{BOB}"

    status = chat.ask("/status")
    assert "Paused: beta" in status and "running (pid" in status, status
    assert "Plugins: 2 ACTIVE" in status, status
    assert "Usage: /pause ID|all" in chat.ask("/pause")
    assert "no plugin 'nope'" in chat.ask("/pause nope")

    prompt = chat.prompt("/resume beta")
    assert "beta" in host.pauses  # nothing before the Confirm
    chat.api.press(OPS, ALICE, prompt["id"], prompt["ok"])
    chat.shown(prompt["id"], r"resumed: beta")
    assert "beta" not in host.pauses
    chat.rig.rounds(1)
    assert beta_bars(chat) > before

    assert "Paused: alpha, beta" in chat.ask("/pause all")
    prompt = chat.prompt("/resume all")
    chat.api.press(OPS, ALICE, prompt["id"], prompt["ok"])
    chat.shown(prompt["id"], r"resumed: alpha, beta")
    kinds = [(e["kind"], e["actor"]) for e in host.store.events("beta")]
    assert ("pause", f"telegram:{BOB}") in kinds and ("resume", f"telegram:{ALICE}") in kinds
    answer = chat.ask("/silence beta:latency 90 exchange upgrade")
    assert "Silence" in answer and "beta:latency" in answer, answer
    [row] = host.store.silences(chat.rig.wall())
    assert (row["plugin_id"], row["kind"], row["reason"], row["actor"]) == (
        "beta", "latency", "exchange upgrade", f"telegram:{ALICE}")
    assert row["until"] - row["created_at"] == pytest.approx(90 * 60)
    assert "not a number of minutes" in chat.ask("/silence beta soon")


def test_profit_and_sync(chat: Chat) -> None:  # noqa: F811
    from zepix_core.loading.paths import plugin_data_dir
    from zepix_core.plugindb import PluginDatabase, database_file

    db = PluginDatabase(database_file("beta", plugin_data_dir("beta")))
    now = chat.rig.wall()
    try:  # beta's paper trades: +10 and -3 closed today, one still open
        won = db.open_trade("BTCUSD", "buy", 2.0, 100.0, ts=now - 60)
        db.close_trade(won.id, 105.0, ts=now - 30)
        lost = db.open_trade("ETHUSD", "buy", 1.0, 100.0, ts=now - 60)
        db.close_trade(lost.id, 97.0, ts=now - 20)
        db.open_trade("BTCUSD", "sell", 1.0, 104.0, ts=now - 10)
    finally:
        db.close()
    answer = chat.ask("/profit beta")
    assert "beta: +7.00 / +7.00; 1 open; win rate 50% of 2" in answer, answer
    assert "<b>All</b>" not in answer
    assert "beta: +7.00" in chat.ask("/profit")
    assert "no plugin 'nope'" in chat.ask("/profit nope")
    answer = chat.ask("/sync")
    assert "Sync started" in answer or "running already" in answer, answer
    chat.api.wait_for(lambda: any(r["trigger"] == f"telegram:{ALICE}"
                                  for r in chat.rig.host.store.sync_runs()))
