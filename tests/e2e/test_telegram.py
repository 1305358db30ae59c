"""The Telegram bot against a loopback stand-in of the Bot API (``tests/telegram_standin``).

python-telegram-bot talks real HTTP to the stand-in through ``base_url``; the
hosts are real (``tests/plugin_versions.Rig``: store versions of ``zx-alpha``
in workers, ``beta`` in process; or a dist-info plugin that can hang). Only
time is injected: the bot's clock (Confirm expiry, refusal log limit, alert
rate limits) and the retry framework's sleep are one ``FakeClock``, and the
stand-in stamps each call with it, so limits are checked without waiting.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from tests.telegram_standin import StandIn
from tests.waiting import wait_until as _wait
from zepix_core.contract.logs import fields_of
from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.loading.paths import data_dir
from zepix_core.retry import Retrier
from zepix_core.telegram import Outbox, Timing, render, start
from zepix_core.telegram.controller import REFUSED_EVERY
from zepix_core.telegram.service import AlertBot, Telegram
from zepix_core.telegram.settings import Settings
from zepix_core.testing import FakeClock, make_host

# python-telegram-bot's own RetryAfter() warns about a future type change on every 429.
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "4242:SECRET-token-never-shown"
OPS, STRANGERS = 100, 555          # chat ids
ALICE, BOB = 7, 8                  # user ids


def telegram_config(standin: StandIn, allowed: list[int], alerts: list[int]) -> str:
    return (f"\n[telegram]\nallowed_chats = {allowed}\nalert_chats = {alerts}\n"
            f"allowed_users = [{ALICE}]\napi_url = \"{standin.base_url}\"\n")


def bot_for(host: Any, clock: FakeClock, **kwargs: Any) -> Telegram:
    timing = Timing(clock=clock.monotonic, interval=10.0, poll_timeout=1.0, sweep_every=0.05,
                    poll=0.05)
    bot = start(host, env={"ZEPIX_TELEGRAM_TOKEN": TOKEN}, retrier=Retrier(sleep=clock.sleep),
                timing=timing, sleep=clock.sleep, **kwargs)
    assert bot is not None
    return bot


@pytest.fixture
def standin() -> Iterator[StandIn]:
    clock = FakeClock()
    server = StandIn(TOKEN, clock=clock.monotonic)
    server.fake = clock  # type: ignore[attr-defined]
    yield server
    server.close()


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str], standin: StandIn) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    with (data_dir() / "zepix.toml").open("a", encoding="utf-8") as f:
        f.write(telegram_config(standin, [OPS], []))
    yield rig
    rig.close()


@pytest.fixture
def chat(rig: pv.Rig, standin: StandIn) -> Iterator[Chat]:
    """alpha 1.0.0 running and through its gate, beta beside it, the bot polling."""
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    bot = bot_for(rig.host, standin.fake)  # type: ignore[attr-defined]
    assert bot.controller.ready.wait(30)
    yield Chat(standin, rig)
    bot.stop()


class Chat:
    """The operators' chat: type a command, read the answers."""

    def __init__(self, standin: StandIn, rig: pv.Rig) -> None:
        self.api, self.rig = standin, rig

    def ask(self, text: str, user: int = ALICE, chat_id: int = OPS) -> str:
        before = len(self.api.texts(chat_id))
        self.api.say(chat_id, user, text)
        return self.api.sent_after(chat_id, before)[-1]

    def prompt(self, text: str, user: int = ALICE) -> dict[str, Any]:
        """Send a change command; the message with its Confirm/Cancel keyboard."""
        answer = self.ask(text, user)
        assert "Only you can confirm" in answer, answer
        call = self.api.of("sendMessage", OPS)[-1]
        buttons = call.params["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["✅ Confirm", "✖️ Cancel"]
        return {"id": int(self.api.messages_by_text(answer)), "ok": buttons[0]["callback_data"],
                "no": buttons[1]["callback_data"]}

    def shown(self, message_id: int, pattern: str, timeout: float = 30.0) -> str:
        """Wait until the bot edited message ``message_id`` to match ``pattern``."""
        found: str = self.api.wait_for(
            lambda: (t := str(self.api.messages[message_id]["text"])) and
            re.search(pattern, t) and t, timeout)
        return found


def _messages_by_text(self: StandIn, text: str) -> int:
    with self.cond:
        return max(mid for mid, m in self.messages.items() if m["text"] == text)


StandIn.messages_by_text = _messages_by_text  # type: ignore[attr-defined]


# -- reads ---------------------------------------------------------------------------
def test_each_read_command_answers_with_escaped_html(chat: Chat) -> None:
    dashboard = chat.ask("/health")
    assert "🏥 <b>Plugin health</b>" in dashboard
    for line in ("🟢 <b>alpha</b>", "🟢 <b>beta</b>", "├ Uptime: ", "(P95)", "├ Memory: ",
                 "├ CPU: ", "└ Error rate: 0.00%"):
        assert line in dashboard, line
    detail = chat.ask("/health alpha")
    assert "Latency ms: p50" in detail and "Breaker: 🟢 CLOSED" in detail
    assert "alpha" in chat.ask("/version") and "<code>1.0.0</code>" in chat.ask("/version")
    assert chat.ask("/alerts") == "✅ No open alerts."
    chat.rig.host.monitor.alerting.raise_event("alpha", "custom", AlertLevel.HIGH,
                                               "a <b>plugin-made</b> message")
    alerts = chat.ask("/alerts")
    assert "🔴 <b>alpha</b> HIGH · custom · since " in alerts
    assert "a &lt;b&gt;plugin-made&lt;/b&gt; message" in alerts
    history = chat.ask("/history alpha")
    assert "activated" in history and "<code>1.0.0</code>" in history
    assert "🟢 <b>alpha</b> CLOSED" in chat.ask("/breakers")
    assert "/upgrade ID VERSION" in chat.ask("/help")


def test_bad_arguments_get_a_clear_answer(chat: Chat) -> None:
    assert chat.ask("/health nope") == "❗ /health: no plugin 'nope'. Known: alpha, beta"
    assert chat.ask("/history") == "❗ Usage: /history ID (a plugin id such as combined_v3)"
    assert chat.ask("/upgrade alpha").startswith("❗ Usage: /upgrade ID VERSION")
    assert "'x.y' is not a version" in chat.ask("/upgrade alpha x.y")
    assert "'A&lt;b&gt;' is not a plugin id" in chat.ask("/rollback A<b>")  # escaped
    assert chat.ask("/frobnicate") == "Unknown command. /help lists what I understand."


def test_a_chat_not_allowed_gets_no_answer_and_is_logged_at_most_once_a_minute(
        chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="zepix.telegram")
    for _ in range(3):
        chat.api.say(STRANGERS, BOB, "/health")
    chat.ask("/help")  # updates are handled in order: the strangers' came first
    refused = [r for r in caplog.records if "not allowed" in r.getMessage()]
    assert [fields_of(r) for r in refused] == [{"chat": STRANGERS, "user": BOB, "suppressed": 0}]
    chat.api.fake.advance(REFUSED_EVERY + 1)  # type: ignore[attr-defined]
    chat.api.say(STRANGERS, BOB, "/upgrade alpha 1.1.0")
    chat.ask("/help")
    refused = [fields_of(r) for r in caplog.records if "not allowed" in r.getMessage()]
    assert refused[-1] == {"chat": STRANGERS, "user": BOB, "suppressed": 2}
    assert chat.api.texts(STRANGERS) == []
    assert TOKEN not in caplog.text


# -- changes ask first ------------------------------------------------------------------
def test_an_upgrade_confirmed_is_applied_through_the_cli_path_and_recorded(chat: Chat) -> None:
    chat.rig.install("1.1.0")
    prompt = chat.prompt("/upgrade alpha 1.1.0")
    chat.api.press(OPS, ALICE, prompt["id"], prompt["ok"])
    chat.shown(prompt["id"], r"Request \d+: upgrade 1.0.0 -&gt; 1.1.0; the host applies")
    assert chat.rig.running() == ("1.0.0", chat.rig.running()[1])  # recorded, not applied
    chat.rig.rounds(1)
    chat.shown(prompt["id"], r"✅ Request \d+: applied: 1.1.0 is active, on probation")
    chat.rig.rounds(3)
    text = chat.shown(prompt["id"], r"🎓 alpha 1.1.0 passed its gate")
    assert "Confirmed by telegram:7." in text
    [request] = chat.rig.host.store.requests("alpha")
    assert request["actor"] == "telegram:7"
    newest = chat.rig.host.store.history("alpha")[0]
    assert newest["version"] == "1.1.0"
    assert newest["activation_reason"].startswith("telegram:7: upgrade 1.0.0 -> 1.1.0")
    assert "by telegram:7" in chat.ask("/history alpha")


def test_a_gate_rollback_after_a_confirmed_upgrade_is_reported(chat: Chat) -> None:
    chat.rig.install("1.2.0")  # its on_bar raises: the gate rolls it back
    prompt = chat.prompt("/upgrade alpha 1.2.0")
    chat.api.press(OPS, ALICE, prompt["id"], prompt["ok"])
    chat.shown(prompt["id"], r"Request \d+: upgrade 1.0.0 -&gt; 1.2.0")
    chat.rig.rounds(3)
    text = chat.shown(prompt["id"], r"↩️ Gate rollback: alpha 1.2.0 failed its gate")
    assert "now running 1.0.0 (ACTIVE)" in text


def test_cancelled_expired_and_another_users_press_change_nothing(chat: Chat) -> None:
    chat.rig.install("1.1.0")
    cancelled = chat.prompt("/upgrade alpha 1.1.0")
    chat.api.press(OPS, ALICE, cancelled["id"], cancelled["no"])
    chat.shown(cancelled["id"], "✖️ Cancelled. Nothing changed.")

    other = chat.prompt("/upgrade alpha 1.1.0")
    chat.api.press(OPS, BOB, other["id"], other["ok"])
    chat.api.wait_for(lambda: any(c.params.get("text") == "Only the user who asked can answer "
                                  "this." for c in chat.api.of("answerCallbackQuery")))
    assert "Only you can confirm" in chat.api.messages[other["id"]]["text"]  # still open

    expired = chat.prompt("/restart beta")
    chat.api.fake.advance(61)  # type: ignore[attr-defined]
    for prompt in (other, expired):
        chat.shown(prompt["id"], "⌛ Expired: not confirmed within 60 s. Nothing changed.")
    chat.api.press(OPS, ALICE, expired["id"], expired["ok"])
    chat.api.wait_for(lambda: any(c.params.get("text") == "This request is no longer open."
                                  for c in chat.api.of("answerCallbackQuery")))
    chat.rig.rounds(1)
    assert chat.rig.host.store.requests("alpha") == []
    assert chat.rig.host.store.requests("beta") == []
    assert chat.rig.running() == ("1.0.0", chat.rig.running()[1])


def test_a_member_not_in_allowed_users_may_read_but_not_change(
        chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="zepix.telegram")
    chat.rig.install("1.1.0")
    for command in ("/upgrade alpha 1.1.0", "/rollback alpha", "/restart beta"):
        answer = chat.ask(command, user=BOB)
        assert answer.startswith("⛔ /") and "allowed_users" in answer, answer
        assert f"your user id is {BOB}" in answer and "Nothing changed." in answer
    assert not any("reply_markup" in c.params for c in chat.api.of("sendMessage", OPS))
    refused = [fields_of(r) for r in caplog.records if "allowed_users" in r.getMessage()]
    assert [r["command"] for r in refused] == ["upgrade", "rollback", "restart"]
    assert all(r["user"] == BOB and r["chat"] == OPS for r in refused)
    assert "🟢 <b>alpha</b>" in chat.ask("/health", user=BOB)  # reads stay open to members
    chat.rig.rounds(1)
    assert chat.rig.host.store.requests("alpha") == []
    assert chat.rig.host.store.requests("beta") == []
    assert chat.rig.running() == ("1.0.0", chat.rig.running()[1])
    chat.prompt("/restart beta", user=ALICE)  # the listed user is still asked to confirm


def test_a_confirmed_restart_reports_the_hosts_outcome(chat: Chat) -> None:
    prompt = chat.prompt("/restart beta")
    chat.api.press(OPS, ALICE, prompt["id"], prompt["ok"])
    chat.shown(prompt["id"], r"Request \d+: restart requested")
    chat.rig.rounds(1)
    chat.shown(prompt["id"], r"✅ Request \d+: ACTIVE")
    newest = chat.rig.host.store.history("beta")[0]
    assert "by telegram:7" in newest["activation_reason"]


def test_a_429_on_a_reply_waits_the_retry_after_telegram_asked_for(chat: Chat) -> None:
    chat.api.fail_next("sendMessage", 7)
    assert "/upgrade ID VERSION" in chat.ask("/help")
    tried = [c for c in chat.api.calls if c.method == "sendMessage"][-2:]
    assert [c.status for c in tried] == [429, 200]
    assert tried[1].at - tried[0].at >= 7


# -- alerts ---------------------------------------------------------------------------
def _alert(n: int, level: AlertLevel) -> Alert:
    return Alert(f"p{n % 7}", f"kind{n}", level, f"condition {n} <breached>", 1.7e9 + n)


def test_a_burst_of_200_alerts_is_batched_within_the_limits_none_lost_critical_first(
        standin: StandIn) -> None:
    clock: FakeClock = standin.fake  # type: ignore[attr-defined]
    chats = list(range(1, 41))
    bot = AlertBot(Settings(TOKEN, alert_chats=tuple(chats), api_url=standin.base_url))
    results: list[tuple[int, bool]] = []
    outbox = Outbox(bot.send, chats, clock=clock.monotonic, sleep=clock.sleep, start=False,
                    on_result=lambda alerts, c, ok, err: results.extend((c, ok) for _ in alerts))
    burst = [_alert(n, AlertLevel.CRITICAL if n % 40 == 39 else AlertLevel.WARNING)
             for n in range(200)]
    for alert in burst:
        outbox.put(alert)
    outbox.start()
    standin.wait_for(lambda: len(results) == 200 * len(chats), timeout=120)
    assert outbox.close() and all(ok for _, ok in results)
    bot.close()

    sends = standin.of("sendMessage")
    for c in chats:
        lines = [line for call in sends if int(call.params["chat_id"]) == c
                 for line in str(call.params["text"]).split("\n")[1:]]
        assert len(lines) == 200                                   # none lost, none twice
        assert all("🚨" in line for line in lines[:5])               # CRITICAL first
        assert "condition 39 &lt;breached&gt;" in lines[0]
        times = [call.at for call in sends if int(call.params["chat_id"]) == c]
        assert len(times) < 10                                     # batched, not 200 sends
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))  # 1 per s
    times = sorted(call.at for call in sends)
    assert all(b - a >= 1.0 for a, b in zip(times, times[30:], strict=False))  # 30 per s


CONTROLLED = '''
import threading
from zepix_core import hookimpl

GATE = threading.Event()
STATE = {"block": False}


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {"version": "1.0.0", "requires_api": ">=1.0"}

    @hookimpl
    def health_ping(self, now):
        if STATE["block"]:
            GATE.wait()
        return {"ok": True}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": 1}

    @hookimpl
    def self_test(self):
        return True
'''


@pytest.fixture
def ctl(dists: DistFactory) -> Iterator[ModuleType]:
    import importlib

    dists.add("zx-ctl", "1.0.0", {"ctl": "zx_ctl_tg:Plugin"}, {"zx_ctl_tg": CONTROLLED})
    module = importlib.import_module("zx_ctl_tg")
    yield module
    module.GATE.set()


def test_a_hung_plugins_critical_alert_and_its_resolution_reach_the_alert_chat(
        tmp_path: Any, dists: DistFactory, ctl: ModuleType, standin: StandIn) -> None:
    clock: FakeClock = standin.fake  # type: ignore[attr-defined]
    config = "[plugins.ctl]\nping_timeout = 0.05\n" + telegram_config(standin, [], [OPS])
    host = make_host(tmp_path / "home", FakeClock(), config=config, paths=[str(dists.root)])
    bot = bot_for(host, clock)
    try:
        host.start()
        host.round()
        ctl.STATE["block"] = True
        host.round()
        host.round()   # a second missed ping: HUNG, CRITICAL
        critical = standin.wait_for(lambda: [t for t in standin.texts(OPS) if "🚨" in t])
        assert "🚨 <b>CRITICAL</b> · ctl" in critical[0] or "🚨 <b>ctl</b>" in critical[0]
        assert "2 health pings in a row missed their deadline" in critical[0]
        ctl.STATE["block"] = False
        ctl.GATE.set()
        host.monitor.watched["ctl"].stuck.result(timeout=10)  # type: ignore[union-attr]
        host.round()
        resolved = standin.wait_for(lambda: [t for t in standin.texts(OPS) if "✅" in t])
        assert "✅ <b>Resolved</b> · ctl" in resolved[0]

        standin.fail_next("sendMessage", 1, 1, 1, 1)  # every try of sink.telegram
        host.monitor.alerting.raise_event("ctl", "custom", AlertLevel.HIGH, "custom trouble")
        row = standin.wait_for(lambda: _delivery(host, "ctl:custom", f"telegram:{OPS}"))
        assert row["delivered"] == 0 and "gave up after 4 attempts" in row["error"]
        rows = host.store.alerts(plugin_id="ctl")
        sent = host.store.deliveries([r["id"] for r in rows])
        hung = next(r for r in rows if r["kind"] == "responsiveness")
        assert any(d["sink"] == f"telegram:{OPS}" and d["delivered"] for d in sent[hung["id"]])
    finally:
        host.shutdown()
        bot.stop()
        host.store.close()


def _delivery(host: Any, fingerprint: str, sink: str) -> Any:
    rows = [r for r in host.store.alerts() if r["fingerprint"] == fingerprint]
    if not rows:
        return None
    found = [d for d in host.store.deliveries([rows[0]["id"]])[rows[0]["id"]] if d["sink"] == sink]
    return found[-1] if found else None


# -- presentation -----------------------------------------------------------------------
def test_long_answers_are_split_below_telegrams_limit_at_line_ends() -> None:
    text = "\n".join(f"line {n} " + "x" * 90 for n in range(200))
    pieces = render.split(text)
    assert len(pieces) > 1 and all(len(p) <= render.LIMIT for p in pieces)
    assert "\n".join(pieces) == text
    assert render.split("y" * 9000) == ["y" * 4000, "y" * 4000, "y" * 1000]


# -- settings ---------------------------------------------------------------------------
def test_the_bot_is_off_without_a_token_and_the_environment_wins(tmp_path: Any) -> None:
    from zepix_core.telegram import settings_from

    assert settings_from({"allowed_chats": [1]}, env={}) is None
    token_file = tmp_path / "token"
    token_file.write_text("111:from-file\n", encoding="utf-8")
    token_file.chmod(0o600)
    table = {"token_file": str(token_file), "allowed_chats": [1], "alert_chats": [2, 2],
             "allowed_users": [5]}
    from_file = settings_from(table, env={})
    assert from_file is not None and from_file.token == "111:from-file"
    assert from_file.alert_chats == (2,) and from_file.warnings == ()
    assert "from-file" not in repr(from_file)
    from_env = settings_from(table, env={"ZEPIX_TELEGRAM_TOKEN": "222:env"})
    assert from_env is not None and from_env.token == "222:env"
    token_file.chmod(0o644)
    shared = settings_from(table, env={})
    assert shared is not None and "readable by other users" in shared.warnings[0]
    nobody = settings_from({**table, "allowed_users": []}, env={})
    assert nobody is not None and not nobody.allowed_users
    assert any("refused for everyone" in w for w in nobody.warnings)


@pytest.mark.parametrize("table, message", [
    ({"allowed_chat": [1]}, "telegram.allowed_chat: unknown key; did you mean 'allowed_chats'?"),
    ({"allowed_chats": "123"}, "telegram.allowed_chats: got '123'; expected a list of numeric chat ids"),
    ({"allowed_users": ["alice"]},
     "telegram.allowed_users: got ['alice']; expected a list of numeric user ids"),
    ({"alert_chats": [True]}, "telegram.alert_chats: got [True]; expected a list of numeric chat ids"),
    ({"api_url": "ftp://x"}, "telegram.api_url: got 'ftp://x'; expected a URL starting http:// or https://"),
    ({"token_file": "/nonexistent/token"}, "telegram.token_file: cannot read /nonexistent/token"),
])
def test_a_malformed_telegram_table_names_the_key(table: dict[str, Any], message: str) -> None:
    from zepix_core.contract.errors import ConfigError
    from zepix_core.telegram import settings_from

    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from(table, "zepix.toml", env={"ZEPIX_TELEGRAM_TOKEN": "1:x"}
                      if "token_file" not in table else {})


def test_zepix_run_refuses_a_bad_telegram_table_with_status_2(
        zepix_home: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from zepix_core.cli.main import main

    (zepix_home / "zepix.toml").write_text("[telegram]\nallowed_chats = \"me\"\n",
                                           encoding="utf-8")
    monkeypatch.setenv("ZEPIX_TELEGRAM_TOKEN", TOKEN)
    assert main(["run", "--once"]) == 2
    err = capsys.readouterr().err
    assert "telegram.allowed_chats: got 'me'; expected a list of numeric chat ids" in err
    assert TOKEN not in err


def test_alert_wording_for_each_event_fits_a_phone() -> None:
    base = Alert("ctl", "responsiveness", AlertLevel.CRITICAL, "2 pings <missed>", 1.7e9)
    fired = render.alert_message(base)
    assert fired == "🚨 <b>CRITICAL</b> · ctl\n2 pings &lt;missed&gt;"
    escalated = render.alert_message(Alert(**{**base.__dict__,
                                              "details": {"escalated_from": "WARNING"}}))
    assert "⬆️ escalated from WARNING" in escalated
    repeated = render.alert_message(Alert(**{**base.__dict__, "event": "repeated",
                                             "details": {"fired_at": 1.7e9}}))
    assert "🔁 still firing since " in repeated and "UTC" in repeated
    resolved = render.alert_message(Alert(**{**base.__dict__, "event": "resolved",
                                             "resolved": True, "message": "answers again",
                                             "details": {"duration_s": 125.0}}))
    assert resolved == "✅ <b>Resolved</b> · ctl\nanswers again\nWas CRITICAL for 2m 5s"
    assert all(len(line) <= 80 for line in fired.split("\n"))


def test_an_unreachable_telegram_never_holds_up_the_host(
        tmp_path: Any, dists: DistFactory, ctl: ModuleType,
        caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeClock()
    config = (f"[telegram]\nallowed_chats = [{OPS}]\nalert_chats = [{OPS}]\n"
              f"api_url = \"http://127.0.0.1:{port}/bot\"\n")
    host = make_host(tmp_path / "home", FakeClock(), config=config, paths=[str(dists.root)])
    bot = bot_for(host, clock)
    try:
        host.start()
        for _ in range(3):
            host.round()
            host.monitor.alerting.raise_event("ctl", "custom", AlertLevel.CRITICAL, "trouble")
        row = _wait(lambda: _delivery(host, "ctl:custom", f"telegram:{OPS}"))
        assert row["delivered"] == 0 and "after 4 attempts" in row["error"]
        _wait(lambda: "telegram bot not started" in caplog.text)
    finally:
        host.shutdown()
        bot.stop()
        host.store.close()
    assert not bot.controller._thread.is_alive()
    assert TOKEN not in caplog.text
