"""The retry framework: delay sequences on a fake clock, categories of real
exceptions, Retry-After against a loopback server, exact statistics in a real
SQLite file, reset, alerts on streaks, and shutdown while a retry waits."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.paths import ROOT
from tests.retryserver import Reply, ScriptedServer
from tests.waiting import wait_until, waiting_in
from zepix_core.contract.errors import ConfigError
from zepix_core.retry import (
    OPERATIONS,
    Category,
    Classified,
    OutboundError,
    Retrier,
    RetryFailed,
    RetryPolicy,
    RetryStats,
    alert_after,
    classify,
    delays,
    from_status,
    parse_retry_after,
    policies_from_config,
)
from zepix_core.retry import http as retry_http
from zepix_core.storage import Store
from zepix_core.testing import FakeClock


def failing(*errors: BaseException, value: Any = "ok") -> Callable[[], Any]:
    """A call that raises ``errors`` in turn, then returns ``value``; ``.calls`` counts."""
    pending = list(errors)

    def call() -> Any:
        call.calls += 1  # type: ignore[attr-defined]
        if pending:
            raise pending.pop(0)
        return value

    call.calls = 0  # type: ignore[attr-defined]
    return call


# -- delay sequences ----------------------------------------------------------------

@pytest.mark.parametrize(("strategy", "expected"), [
    ("exponential", [1, 2, 4, 8, 16, 30, 30]),
    ("linear", [1, 2, 3, 4, 5, 6, 7]),
    ("fixed", [1, 1, 1, 1, 1, 1, 1]),
    ("fibonacci", [1, 1, 2, 3, 5, 8, 13]),
])
def test_each_strategy_waits_its_sequence_on_a_fake_clock(strategy: str,
                                                         expected: list[float]) -> None:
    clock = FakeClock()
    policy = RetryPolicy(strategy, base=1.0, max_delay=30.0, max_attempts=8,  # type: ignore[arg-type]
                    jitter=False)
    retrier = Retrier({"sync": policy}, sleep=clock.sleep)
    start = clock.monotonic()
    call = failing(*[TimeoutError("slow")] * 7)
    assert retrier.run("sync", call) == "ok"
    outcome = retrier.stats.outcomes[-1]
    assert list(outcome.delays) == expected
    assert clock.monotonic() - start == sum(expected)
    assert (outcome.result, outcome.attempts) == ("retried", 8)


def test_base_scales_and_max_delay_caps_every_strategy() -> None:
    assert delays(RetryPolicy("exponential", base=0.5, max_delay=3.0, jitter=False), 5) == \
        [0.5, 1.0, 2.0, 3.0, 3.0]
    assert delays(RetryPolicy("linear", base=2.0, max_delay=5.0, jitter=False), 4) == [2, 4, 5, 5]
    assert delays(RetryPolicy("fixed", base=9.0, max_delay=5.0, jitter=False), 2) == [5, 5]
    assert delays(RetryPolicy("fibonacci", base=2.0, max_delay=9.0, jitter=False), 6) == \
        [2, 2, 4, 6, 9, 9]


@pytest.mark.parametrize("strategy", ["exponential", "linear", "fixed", "fibonacci"])
def test_full_jitter_stays_within_zero_and_the_capped_delay(strategy: str) -> None:
    policy = RetryPolicy(strategy, base=1.0, max_delay=10.0, jitter=True)  # type: ignore[arg-type]
    ceiling = delays(policy, 8, rand=lambda: 1.0)
    rng = random.Random(42)
    for _ in range(200):
        drawn = delays(policy, 8, rand=rng.random)
        assert all(0.0 <= d <= c for d, c in zip(drawn, ceiling, strict=True))
    assert delays(policy, 3, rand=lambda: 0.5) == [c / 2 for c in ceiling[:3]]
    spread = [delays(policy, 1, rand=rng.random)[0] for _ in range(200)]
    assert min(spread) < 0.25 * ceiling[0] and max(spread) > 0.75 * ceiling[0]


def test_max_attempts_counts_every_try_and_then_the_operation_is_exhausted() -> None:
    clock = FakeClock()
    retrier = Retrier({"sync": RetryPolicy(max_attempts=3, jitter=False)}, sleep=clock.sleep)
    call = failing(*[ConnectionResetError("reset")] * 5)
    with pytest.raises(RetryFailed, match="gave up after 3 attempts") as caught:
        retrier.run("sync", call)
    assert call.calls == 3  # type: ignore[attr-defined]
    assert caught.value.outcome.result == "exhausted"
    assert isinstance(caught.value.__cause__, ConnectionResetError)


def test_an_unknown_failure_is_retried_conservatively() -> None:
    retrier = Retrier({"sync": RetryPolicy(max_attempts=6, unknown_attempts=3)},
                      sleep=FakeClock().sleep)
    call = failing(*[RuntimeError("odd")] * 9)
    with pytest.raises(RetryFailed):
        retrier.run("sync", call)
    assert call.calls == 3  # type: ignore[attr-defined]
    assert retrier.stats.outcomes[-1].failures[0].category is Category.UNKNOWN


# -- categories of real exceptions -----------------------------------------------------

def _urlopen_error(url: str, timeout: float = 5.0) -> BaseException:
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}"), timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the exception is what is under test
        return exc
    raise AssertionError(f"{url} did not fail")


def test_categories_of_real_urllib_errors(server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(429, {"Retry-After": "7"}), 503, 500, 401, 403, 404, 400, 302])
    found = [classify(_urlopen_error(s.url)) for _ in range(8)]
    assert [c.category.value for c in found] == [
        "rate_limit", "transient", "transient", "permanent", "permanent", "permanent",
        "permanent", "permanent"]
    assert found[0].retry_after == 7.0
    assert "HTTPError: HTTP Error 503" in found[1].error


def test_categories_of_real_network_failures() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    refused = classify(_urlopen_error(f"http://127.0.0.1:{port}/"))
    assert refused.category is Category.TRANSIENT and "Connection refused" in refused.error
    dns = classify(_urlopen_error("http://no-such-host.invalid/x"))
    assert dns.category is Category.TRANSIENT
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        timeout = _urlopen_error(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.2)
        assert classify(timeout).category is Category.TRANSIENT
    finally:
        silent.close()


@pytest.mark.parametrize("url", ["htp://example.com/x", "not a url", "http://"])
def test_a_malformed_url_is_permanent(url: str) -> None:
    assert classify(_urlopen_error(url)).category is Category.PERMANENT


@pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")  # PTB's own constructor
def test_categories_of_python_telegram_bot_errors() -> None:
    import telegram.error as telegram_error  # imported here: zepix_core never imports it

    cases = [
        (telegram_error.RetryAfter(timedelta(seconds=12)), Category.RATE_LIMIT, 12.0),
        (telegram_error.InvalidToken(), Category.PERMANENT, None),
        (telegram_error.Forbidden("bot was blocked"), Category.PERMANENT, None),
        (telegram_error.BadRequest("chat not found"), Category.PERMANENT, None),
        (telegram_error.TimedOut(), Category.TRANSIENT, None),
        (telegram_error.NetworkError("connection reset"), Category.TRANSIENT, None),
        (telegram_error.ChatMigrated(42), Category.PERMANENT, None),
        (telegram_error.TelegramError("odd"), Category.UNKNOWN, None),
    ]
    for exc, category, wait in cases:
        assert (classify(exc).category, classify(exc).retry_after) == (category, wait), exc


def test_statuses_headers_and_retry_after_dates() -> None:
    assert from_status(429, {"Retry-After": "3"}).retry_after == 3.0
    assert from_status(503).category is Category.TRANSIENT
    assert from_status(401).category is Category.PERMANENT
    now = 1_700_000_000.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after("-4") == 0.0
    err = OutboundError("custom", "transient")
    assert classify(err) == Classified(Category.TRANSIENT, None, "OutboundError: custom")


def test_a_callers_classifier_comes_first_and_may_defer() -> None:
    clock = FakeClock()
    retrier = Retrier({"sync": RetryPolicy(max_attempts=5, jitter=False)}, sleep=clock.sleep)

    def mine(exc: BaseException) -> Classified | None:
        return Classified(Category.PERMANENT, None, "mine") if "schema" in str(exc) else None

    call = failing(TimeoutError("t"), KeyError("schema mismatch"))
    with pytest.raises(RetryFailed, match="permanent"):
        retrier.run("sync", call, classifier=mine)
    assert [f.category for f in retrier.stats.outcomes[-1].failures] == [
        Category.TRANSIENT, Category.PERMANENT]


# -- against a loopback server ---------------------------------------------------------

def post(url: str) -> Callable[[], retry_http.Reply]:
    return lambda: retry_http.request(url, body=b"{}", timeout=5.0)


def test_retry_after_is_honoured_against_a_real_server(
        server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(429, {"Retry-After": "2"}), Reply(200, body=b"ok")])
    clock = FakeClock()
    retrier = Retrier(sleep=clock.sleep)
    reply = retrier.run("sink.webhook", post(s.url))
    assert (reply.status, reply.body) == (200, b"ok")
    outcome = retrier.stats.outcomes[-1]
    assert outcome.delays == (2.0,)                  # the server's wait, not the strategy's
    assert [f.category for f in outcome.failures] == [Category.RATE_LIMIT]
    assert len(s.requests) == 2


def test_a_retry_after_beyond_the_cap_is_cut_and_reported(
        server: Callable[..., ScriptedServer], caplog: pytest.LogCaptureFixture) -> None:
    s = server([Reply(429, {"Retry-After": "3600"})])
    retrier = Retrier({"sink.webhook": RetryPolicy(retry_after_cap=20.0)}, sleep=FakeClock().sleep)
    retrier.run("sink.webhook", post(s.url))
    assert retrier.stats.outcomes[-1].delays == (20.0,)
    [record] = [r for r in caplog.records if r.getMessage() == "retry-after capped"]
    assert record.__dict__["zepix_fields"] == {"operation": "sink.webhook", "asked": 3600.0,
                                               "cap": 20.0}


def test_a_401_is_never_retried(server: Callable[..., ScriptedServer]) -> None:
    s = server([401, 200])
    retrier = Retrier(sleep=FakeClock().sleep)
    with pytest.raises(RetryFailed, match="permanent failure, not retried") as caught:
        retrier.run("sink.webhook", post(s.url))
    assert len(s.requests) == 1
    assert caught.value.outcome.result == "permanent"
    assert "HTTP 401" in str(caught.value)
    assert "secretpath" not in str(caught.value)         # the URL is redacted


# -- statistics ---------------------------------------------------------------------

def test_statistics_are_counted_exactly_and_persisted(
        tmp_path: Path, server: Callable[..., ScriptedServer]) -> None:
    s = server([503, 503, 200, 401])
    store = Store(tmp_path / "zepix.db")
    retrier = Retrier(stats=RetryStats(store, wall=lambda: 1_700_000_000.0),
                      sleep=FakeClock().sleep, rand=lambda: 0.5)
    retrier.run("sink.webhook", post(s.url))
    with pytest.raises(RetryFailed):
        retrier.run("sink.webhook", post(s.url))
    retrier.run("sync", lambda: 1)
    again = Store(tmp_path / "zepix.db")                 # a restart reads the same
    webhook, sync = again.retry_stats()
    assert {k: webhook[k] for k in ("operation", "calls", "attempts", "first_try_successes",
                                    "retry_successes", "exhausted", "permanent_failures")} == {
        "operation": "sink.webhook", "calls": 2, "attempts": 4, "first_try_successes": 0,
        "retry_successes": 1, "exhausted": 0, "permanent_failures": 1}
    assert webhook["total_delay"] == 0.25 + 0.5          # jittered 0.5 and 1.0 at rand 0.5
    assert webhook["by_category"] == {
        "permanent": {"failures": 1, "gave_up": 1, "total_delay": 0.0},
        "transient": {"failures": 2, "gave_up": 0, "total_delay": 0.75}}
    assert "HTTP 401" in webhook["last_error"] and webhook["last_error_at"] == 1_700_000_000.0
    assert (sync["first_try_successes"], sync["by_category"]) == (1, {})
    assert again.reset_retry_stats() == 2
    assert again.retry_stats() == []


def test_exhausted_retries_in_a_row_raise_an_alert_and_a_success_clears_it() -> None:
    heard: list[tuple[str, int, bool, str | None]] = []
    stats = RetryStats(alert_after=2, on_streak=lambda *a: heard.append(a))
    retrier = Retrier({"sync": RetryPolicy(max_attempts=2)}, stats=stats, sleep=FakeClock().sleep)
    for _ in range(3):
        with pytest.raises(RetryFailed):
            retrier.run("sync", failing(TimeoutError("a"), TimeoutError("b")))
    with pytest.raises(RetryFailed):
        retrier.run("sync", failing(OutboundError("denied", "permanent")))
    assert stats.streak("sync") == 3                     # a permanent failure is no streak
    retrier.run("sync", lambda: None)
    assert heard == [("sync", 2, True, "TimeoutError: b"), ("sync", 3, True, "TimeoutError: b"),
                     ("sync", 0, False, None)]


# -- shutdown ------------------------------------------------------------------------

def test_stop_ends_a_retry_that_is_waiting(server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(429, {"Retry-After": "60"})])
    retrier = Retrier({"sink.webhook": RetryPolicy(retry_after_cap=120.0)})   # real waits
    failed: list[RetryFailed] = []

    def deliver() -> None:
        try:
            retrier.run("sink.webhook", post(s.url))
        except RetryFailed as exc:
            failed.append(exc)

    worker = threading.Thread(target=deliver)
    worker.start()
    assert s.seen.wait(10)
    wait_until(lambda: waiting_in(worker, "sleep", "retrier.py"))  # in the 60 s wait
    started = time.monotonic()
    retrier.stop()
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 5                # not the 60 s asked for
    [exc] = failed
    assert exc.outcome.result == "stopped" and exc.outcome.attempts == 1
    assert exc.outcome.delay < 5                         # what was waited, not the 60 s
    assert len(s.requests) == 1
    with pytest.raises(RetryFailed, match="stopped"):    # after stop: one try, no retry
        retrier.run("sink.webhook", failing(TimeoutError("t")))


# -- config ----------------------------------------------------------------------------

def test_policies_come_from_config_over_documented_defaults() -> None:
    policies = policies_from_config({"sync": {"strategy": "fibonacci", "base": 2,
                                              "max_attempts": 6, "jitter": True},
                                     "alert_after": 5})
    assert policies["sync"] == RetryPolicy("fibonacci", 2.0, 60.0, 6, True)
    assert policies["sink.webhook"] == OPERATIONS["sink.webhook"]
    assert set(policies) == {"sink.webhook", "sink.telegram", "sink.alertmanager",
                             "telegram", "sync", "store.install"}
    assert alert_after({"alert_after": 5}) == 5 and alert_after({}) == 3
    assert delays(OPERATIONS["sync"], 3) == [5.0, 10.0, 20.0]    # batch 09's sync waits


@pytest.mark.parametrize(("table", "message"), [
    ({"sink.webhok": {}}, ('retry."sink.webhok": unknown key; did you mean '
                          "'sink.webhook'?")),
    ({"sync": {"strategy": "random"}}, "strategy: got 'random'; expected one of"),
    ({"sync": {"base": float("nan")}}, "base: got nan; expected a finite number"),
    ({"sync": {"max_delay": -1}}, "max_delay: got -1"),
    ({"sync": {"max_attempts": 0}}, "max_attempts: got 0; expected a whole number >= 1"),
    ({"sync": {"jitter": "yes"}}, "jitter: got 'yes'; expected true or false"),
    ({"sync": {"retries": 3}}, "retries: unknown key"),
])
def test_bad_retry_config_is_one_line_naming_the_key(table: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        policies_from_config(table, "zepix.toml")
    with pytest.raises(ConfigError, match="retry.alert_after"):
        alert_after({"alert_after": 0})


# -- bounded requests ----------------------------------------------------------------

def test_a_dripping_answer_is_cut_at_the_request_time_limit(
        server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(200, body=b"x" * 200, drip=0.05)])
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no complete answer within 0.5 s"):
        retry_http.request(s.url, body=b"{}", timeout=0.5)
    assert time.monotonic() - started < 5                # not the 10 s the drip would take


def test_an_answer_over_the_size_limit_is_a_permanent_failure(
        server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(200, body=b"y" * 5000)])
    with pytest.raises(OutboundError, match="larger than 1000 bytes") as caught:
        retry_http.request(s.url, body=b"{}", max_bytes=1000)
    assert caught.value.category is Category.PERMANENT
    assert "secretpath" not in str(caught.value)


def test_the_defaults_table_in_operations_md_matches_the_code() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    rows = {cells[0].strip("` "): cells for line in text.splitlines()
            if line.startswith("| `") and len(cells := [c.strip() for c in
                                                        line.strip("|").split("|")]) == 8}
    assert set(rows) >= set(OPERATIONS)
    for name, policy in OPERATIONS.items():
        _, _, strategy, base, max_delay, attempts, jitter, waits = rows[name]
        assert (strategy, base, max_delay, attempts) == (
            policy.strategy, f"{policy.base:g} s", f"{policy.max_delay:g} s",
            str(policy.max_attempts)), name
        assert jitter == ("full" if policy.jitter else "none"), name
        expected = delays(policy, policy.max_attempts - 1, rand=lambda: 1.0)
        assert waits == ", ".join(f"{d:g}" for d in expected) + " s", name


# -- asyncio callers -----------------------------------------------------------------

def test_run_async_retries_a_coroutine_under_the_policy() -> None:
    clock = FakeClock()
    retrier = Retrier({"telegram": RetryPolicy(base=1.0, jitter=False)}, sleep=clock.sleep)
    sync_call = failing(TimeoutError("slow"), TimeoutError("slow"), value="sent")

    async def send() -> str:
        await asyncio.sleep(0)
        return str(sync_call())

    assert asyncio.run(retrier.run_async("telegram", send)) == "sent"
    outcome = retrier.stats.outcomes[-1]
    assert (outcome.result, outcome.delays) == ("retried", (1.0, 2.0))


def test_run_async_gives_up_at_once_on_a_permanent_failure() -> None:
    import telegram.error as telegram_error

    retrier = Retrier(sleep=FakeClock().sleep)

    async def send() -> None:
        raise telegram_error.InvalidToken()

    with pytest.raises(RetryFailed, match="permanent") as caught:
        asyncio.run(retrier.run_async("telegram", send))
    assert caught.value.outcome.attempts == 1


@pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")  # PTB's own constructor
def test_stop_ends_an_async_retry_that_is_waiting() -> None:
    import telegram.error as telegram_error

    retrier = Retrier()                                   # real waits

    async def send() -> None:
        raise telegram_error.RetryAfter(timedelta(seconds=50))

    async def main() -> RetryFailed:
        asyncio.get_running_loop().call_later(0.3, retrier.stop)
        with pytest.raises(RetryFailed) as caught:
            await retrier.run_async("telegram", send)
        return caught.value

    started = time.monotonic()
    failed = asyncio.run(main())
    assert time.monotonic() - started < 5
    assert failed.outcome.result == "stopped"
    assert failed.outcome.failures[0].category is Category.RATE_LIMIT


def test_os_errors_are_transient_only_when_the_network_is_down() -> None:
    import errno

    assert classify(OSError(errno.ENETUNREACH, "Network is unreachable")).category \
        is Category.TRANSIENT
    assert classify(PermissionError(errno.EACCES, "denied")).category is Category.UNKNOWN
    assert classify(BrokenPipeError(errno.EPIPE, "pipe")).category is Category.TRANSIENT
