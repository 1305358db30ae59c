"""Telegram /pause and /resume against the Bot API stand-in (issue 28): /pause acts at
once and the paused plugin gets no bars; /resume asks for Confirm first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_telegram import ALICE, BOB, OPS, Chat, chat, rig, standin  # noqa: F401

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
