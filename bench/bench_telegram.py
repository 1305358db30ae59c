"""What Telegram costs the host, and how far a burst of alerts is batched.

- a monitoring round of the five bundled plugins that raises one new alert,
  with the Telegram sink delivering to a stand-in Bot API that takes 0.5 s to
  answer each message, against the same round with no Telegram at all: the
  sink only queues, so the ratio should stay near 1;
- a burst of 200 alerts to one chat under the default limits (1 message/s per
  chat): messages sent per alert (batching), on a fake clock.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the suite's stand-in Bot API
from tests.telegram_standin import StandIn
from zepix_core.contract.model import Alert, AlertLevel
from zepix_core.retry import Retrier
from zepix_core.telegram import Outbox, Timing, start
from zepix_core.telegram.service import AlertBot
from zepix_core.telegram.settings import Settings
from zepix_core.testing import FakeClock, make_host

TOKEN = "1:bench"


class SlowStandIn(StandIn):
    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method == "sendMessage":
            time.sleep(0.5)
        return super().handle(token, method, params)


def _rounds(home: Path, config: str, telegram: bool, n: int) -> float:
    host = make_host(home, FakeClock(), config=config)
    bot = None
    if telegram:
        bot = start(host, env={"ZEPIX_TELEGRAM_TOKEN": TOKEN}, retrier=Retrier(),
                    timing=Timing(poll_timeout=1.0))
    try:
        host.start()
        host.round()
        took = []
        for i in range(n):
            started = time.perf_counter()
            host.round()
            host.monitor.alerting.raise_event("combined_v3", f"bench{i}", AlertLevel.HIGH, "x")
            took.append(time.perf_counter() - started)
        return statistics.median(took)
    finally:
        host.shutdown()
        if bot is not None:
            bot.stop(timeout=1.0)
        host.store.close()


def _burst(standin: StandIn) -> tuple[int, float]:
    clock = FakeClock()
    standin.clock = clock.monotonic
    bot = AlertBot(Settings(TOKEN, alert_chats=(1,), api_url=standin.base_url))
    done: list[int] = []
    outbox = Outbox(bot.send, [1], clock=clock.monotonic, sleep=clock.sleep, start=False,
                    on_result=lambda alerts, c, ok, err: done.extend(1 for _ in alerts))
    begin = clock.monotonic()
    for n in range(200):
        outbox.put(Alert(f"p{n % 5}", f"k{n}", AlertLevel.WARNING, f"condition {n}", 0.0))
    outbox.start()
    while len(done) < 200:
        time.sleep(0.01)
    outbox.close()
    bot.close()
    return len(standin.of("sendMessage")), clock.monotonic() - begin


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 5 if quick else 15
    standin = SlowStandIn(TOKEN)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            plain = _rounds(Path(tmp) / "plain", "", False, n)
            config = (f"[telegram]\nalert_chats = [1]\napi_url = \"{standin.base_url}\"\n")
            with_bot = _rounds(Path(tmp) / "bot", config, True, n)
        burst = StandIn(TOKEN)
        try:
            messages, seconds = _burst(burst)
        finally:
            burst.close()
    finally:
        standin.close()
    return [
        {"bench": "telegram", "what": "round + alert with the sink, Telegram 0.5 s slow "
         "(vs no Telegram)", "seconds": with_bot, "ratio": with_bot / plain},
        {"bench": "telegram", "what": "burst of 200 alerts to one chat: messages per alert",
         "ratio": messages / 200, "messages": messages, "fake_seconds": seconds},
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
