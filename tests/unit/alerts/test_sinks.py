"""Alert sinks and delivery: in-memory sinks, and the webhook against a real local server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.retryserver import Reply, ScriptedServer
from tests.waiting import wait_for, waiting_in
from zepix_core import Alert, AlertLevel, ConfigError, hookimpl
from zepix_core.alerts.delivery import AlertDispatcher
from zepix_core.alerts.sinks import (
    LogSink,
    WebhookSink,
    alert_payload,
    build_host_manager,
    webhook_headers,
)
from zepix_core.retry import OutboundError, Retrier, RetryPolicy
from zepix_core.testing import FakeClock

ALERT = Alert("combined_v3", "latency", AlertLevel.WARNING, "p95 6100 ms", 1_700_000_000.0,
              details={"p95_ms": 6100.0})

Result = tuple[str, str, bool, "str | None"]


class Recorder:
    """on_result callback that remembers every report."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.done = threading.Event()

    def __call__(self, alert: Alert, sink: str, delivered: bool, error: str | None) -> None:
        self.results.append((alert.kind, sink, delivered, error))
        self.done.set()


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        self.alerts.append(alert)


class FlakySink:
    """Fails ``failures`` times, then delivers; retried under the ``sink.test`` policy."""

    name = "flaky"
    retry_operation = "sink.test"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"refused #{self.calls}")


def dispatcher(*sinks: object, recorder: Recorder, clock: FakeClock | None = None,
               policy: RetryPolicy | None = None, **kwargs: Any) -> AlertDispatcher:
    pm = build_host_manager(sinks, log_sink=False)
    policy = policy or RetryPolicy(base=1.0, max_delay=30.0, max_attempts=4)
    retrier = Retrier({"sink.test": policy, "sink.webhook": policy},
                      sleep=(clock or FakeClock()).sleep, rand=lambda: 0.5)
    return AlertDispatcher(pm, on_result=recorder, retrier=retrier, **kwargs)


# -- log sink and the host manager ------------------------------------------------

def test_log_sink_logs_one_line_of_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zepix.alerts")
    LogSink().alert_sink(ALERT)
    [record] = caplog.records
    assert record.getMessage() == (
        "alert plugin=combined_v3 kind=latency level=WARNING event=fired msg=p95 6100 ms")
    assert record.levelno == logging.WARNING
    assert record.__dict__["zepix_alert"]["fingerprint"] == "combined_v3:latency"


def test_log_sink_levels_follow_the_alert(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zepix.alerts")
    sink = LogSink()
    sink.alert_sink(Alert("p", "status", AlertLevel.CRITICAL, "HUNG", 0.0))
    sink.alert_sink(Alert("p", "status", AlertLevel.CRITICAL, "ok", 0.0, event="resolved",
                          resolved=True))
    assert [r.levelno for r in caplog.records] == [logging.CRITICAL, logging.INFO]


def test_the_host_manager_has_the_log_sink_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zepix.alerts")
    extra = ListSink()
    pm = build_host_manager([extra])
    pm.hook.alert_sink(alert=ALERT)
    assert extra.alerts == [ALERT]
    assert "kind=latency" in caplog.text
    assert sorted(name for name, _ in pm.list_name_plugin()) == ["list", "log"]
    assert build_host_manager(log_sink=False).get_plugins() == set()


def test_payload_is_json_with_an_iso_timestamp() -> None:
    payload = json.loads(json.dumps(alert_payload(ALERT)))
    assert payload["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert payload["epoch"] == ALERT.timestamp
    assert (payload["level"], payload["event"], payload["resolved"]) == ("WARNING", "fired", False)
    assert payload["details"] == {"p95_ms": 6100.0}


# -- the dispatcher ------------------------------------------------------------

def test_every_sink_gets_the_alert_and_each_delivery_is_reported() -> None:
    recorder, first, second = Recorder(), ListSink(), ListSink()
    second.name = "list2"
    d = dispatcher(first, second, recorder=recorder)
    assert d.submit(ALERT)
    assert d.close(timeout=5)
    assert first.alerts == [ALERT] and second.alerts == [ALERT]
    assert sorted(recorder.results) == [("latency", "list", True, None),
                                        ("latency", "list2", True, None)]


def test_a_sink_failing_twice_is_retried_under_its_policy() -> None:
    recorder, clock, flaky = Recorder(), FakeClock(), FlakySink(failures=2)
    d = dispatcher(flaky, recorder=recorder, clock=clock)
    d.submit(ALERT)
    assert wait_for(lambda: recorder.results)
    assert flaky.calls == 3
    assert list(d.retrier.stats.outcomes[-1].delays) == [0.5, 1.0]   # rand()=0.5 times 1, 2
    assert recorder.results == [("latency", "flaky", True, None)]
    assert d.close(timeout=5)


def test_a_sink_that_keeps_failing_is_reported_undelivered_and_others_still_deliver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, broken, good = Recorder(), FlakySink(failures=99), ListSink()
    d = dispatcher(broken, good, recorder=recorder,
                   policy=RetryPolicy(base=1.0, max_delay=3.0, max_attempts=4))
    d.submit(ALERT)
    assert wait_for(lambda: len(recorder.results) == 2)
    assert broken.calls == 4                          # the first try and 3 retries
    assert list(d.retrier.stats.outcomes[-1].delays) == [0.5, 1.0, 1.5]   # capped, jittered
    assert good.alerts == [ALERT]
    assert ("latency", "flaky", False,
            "sink.test: gave up after 4 attempts: ConnectionError: refused #4") \
        in recorder.results
    assert any(r.getMessage() == "alert undelivered" for r in caplog.records)
    assert d.close(timeout=5)


def test_a_sink_without_a_retry_operation_is_called_once() -> None:
    class Once(FlakySink):
        name = "once"
        retry_operation = None

    recorder, sink = Recorder(), Once(failures=1)
    d = dispatcher(sink, recorder=recorder)
    d.submit(ALERT)
    assert d.close(timeout=5)
    assert sink.calls == 1
    assert recorder.results == [("latency", "once", False, "ConnectionError: refused #1")]


def test_a_slow_sink_never_blocks_submit_and_a_full_queue_drops_with_a_report() -> None:
    release = threading.Event()

    class StuckSink:
        name = "stuck"

        @hookimpl
        def alert_sink(self, alert: Alert) -> None:
            release.wait(10)

    recorder, fast = Recorder(), ListSink()
    d = dispatcher(StuckSink(), fast, recorder=recorder, queue_size=2)
    started = time.monotonic()
    accepted = [d.submit(ALERT) for _ in range(10)]
    assert time.monotonic() - started < 5.0          # never waits for the stuck sink (10 s)
    assert accepted.count(True) <= 3                  # one in the sink, two waiting
    dropped = [r for r in recorder.results if r[1] == "stuck"]
    assert len(dropped) >= 7
    assert all("queue full" in str(r[3]) for r in dropped)
    # The other sink is not held up: it delivers everything it did not drop itself.
    fast_dropped = len([r for r in recorder.results if r[1] == "list" and not r[2]])
    assert wait_for(lambda: len(fast.alerts) == 10 - fast_dropped)
    assert len(fast.alerts) >= 2
    release.set()
    assert d.close(timeout=5)


def test_close_drains_the_queue_and_later_alerts_are_refused() -> None:
    recorder, sink = Recorder(), ListSink()
    d = dispatcher(sink, recorder=recorder)
    for i in range(50):
        d.submit(Alert("p", f"kind{i}", AlertLevel.INFO, "x", 0.0))
    assert d.close(timeout=5)
    assert len(sink.alerts) == 50
    assert not d.submit(ALERT)
    assert recorder.results[-1] == ("latency", "dispatcher", False, "alert dispatcher is closed")


def test_close_gives_up_on_a_stuck_sink_and_reports_what_is_pending() -> None:
    release = threading.Event()

    class StuckSink:
        name = "stuck"

        @hookimpl
        def alert_sink(self, alert: Alert) -> None:
            release.wait(30)

    recorder = Recorder()
    d = dispatcher(StuckSink(), recorder=recorder)
    for i in range(3):
        d.submit(Alert("p", f"kind{i}", AlertLevel.INFO, "x", 0.0))
    started = time.monotonic()
    assert not d.close(timeout=0.3)
    assert time.monotonic() - started < 5
    assert sorted(r[0] for r in recorder.results) == ["kind1", "kind2"]
    assert all(not r[2] and "shut down" in str(r[3]) for r in recorder.results)
    release.set()


def test_a_broken_on_result_callback_does_not_stop_delivery() -> None:
    sink = ListSink()

    def explode(alert: Alert, sink_name: str, delivered: bool, error: str | None) -> None:
        raise RuntimeError("callback bug")

    d = AlertDispatcher(build_host_manager([sink], log_sink=False), on_result=explode)
    d.submit(ALERT)
    d.submit(ALERT)
    assert d.close(timeout=5)
    assert sink.alerts == [ALERT, ALERT]


# -- the webhook sink against a real HTTP server -----------------------------------

def test_webhook_posts_the_alert_as_json(server: Callable[..., ScriptedServer]) -> None:
    s = server()
    WebhookSink(s.url, timeout=5, headers={"Authorization": "Bearer t0ken"}).alert_sink(ALERT)
    [(method, path, headers, body)] = s.requests
    assert (method, path) == ("POST", "/hooks/T000/B000/secretpath")
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer t0ken"
    assert json.loads(body) == json.loads(json.dumps(alert_payload(ALERT)))


def test_webhook_answering_503_twice_then_200_is_delivered_on_the_third_try(
    server: Callable[..., ScriptedServer],
) -> None:
    s = server([503, 503])
    recorder = Recorder()
    d = dispatcher(WebhookSink(s.url, timeout=5), recorder=recorder)
    d.submit(ALERT)
    assert wait_for(lambda: recorder.results)
    assert len(s.requests) == 3
    assert [f.category.value for f in d.retrier.stats.outcomes[-1].failures] == [
        "transient", "transient"]
    name = f"webhook:http://127.0.0.1:{s.port}/***"     # the secret path never shows
    assert recorder.results == [("latency", name, True, None)]
    assert d.close(timeout=5)


def test_webhook_401_is_undelivered_at_once_without_a_retry(
    server: Callable[..., ScriptedServer],
) -> None:
    s = server([401, 200])
    recorder = Recorder()
    d = dispatcher(WebhookSink(s.url, timeout=5, name="ops"), recorder=recorder)
    d.submit(ALERT)
    assert d.close(timeout=10)
    assert len(s.requests) == 1
    [(_, sink, delivered, error)] = recorder.results
    assert (sink, delivered) == ("ops", False)
    assert error is not None and "HTTP 401" in error and "permanent" in error
    assert "secretpath" not in error


def test_webhook_redirect_is_a_failure_not_a_bodiless_get(
        server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(302, {"Location": "/elsewhere"})])
    with pytest.raises(OutboundError, match="302"):
        WebhookSink(s.url, timeout=5).alert_sink(ALERT)
    assert len(s.requests) == 1


def test_webhook_that_never_answers_times_out_and_is_reported_undelivered() -> None:
    # A listening socket that never accepts: the connection opens, no answer comes.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        recorder = Recorder()
        d = dispatcher(WebhookSink(url, timeout=0.2, name="silent"), recorder=recorder)
        started = time.monotonic()
        assert d.submit(ALERT)
        assert time.monotonic() - started < 0.19         # not one request time limit (0.2 s)
        assert wait_for(lambda: recorder.results)
        assert time.monotonic() - started < 5
        [(_, sink, delivered, error)] = recorder.results
        assert (sink, delivered) == ("silent", False)
        assert error is not None and "within 0.2 s" in error and "after 4 attempts" in error
        assert d.close(timeout=5)
    finally:
        silent.close()


def test_a_dripping_webhook_never_delays_the_other_sinks(
        server: Callable[..., ScriptedServer]) -> None:
    """A webhook that drips its answer a byte at a time holds only its own lane; the
    whole request is cut at its time limit."""
    s = server([Reply(200, body=b"." * 400, drip=0.05)] * 4)
    recorder, fast = Recorder(), ListSink()
    drip = WebhookSink(s.url, timeout=2.0, name="drip")
    d = dispatcher(drip, fast, recorder=recorder,
                   policy=RetryPolicy(max_attempts=2, base=0.01, max_delay=0.01))
    started = time.monotonic()
    for i in range(3):
        d.submit(Alert("p", f"kind{i}", AlertLevel.INFO, "x", 0.0))
    assert wait_for(lambda: len(fast.alerts) == 3, timeout=5)
    assert time.monotonic() - started < 1.8          # before the drip's first time limit
    assert wait_for(lambda: len([r for r in recorder.results if r[1] == "drip"]) >= 1)
    first = next(r for r in recorder.results if r[1] == "drip")
    assert not first[2] and "no complete answer within 2 s" in str(first[3])
    assert time.monotonic() - started < 15             # 2 tries of 2 s, not 20 s of drip
    d.close(timeout=0.5)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http:///nohost",
                                 "http://h:99999/x"])
def test_webhook_refuses_a_url_it_cannot_post_to(url: str) -> None:
    with pytest.raises(ConfigError, match="webhook url"):
        WebhookSink(url)


def test_webhook_url_secrets_never_show_in_the_sink_name_or_errors() -> None:
    sink = WebhookSink("https://hooks.slack.com/services/T0/B0/XYZSECRET")
    assert sink.name == "webhook:https://hooks.slack.com/***"
    with pytest.raises(ConfigError) as caught:
        WebhookSink("ftp://user:pw@example.com/XYZSECRET")
    assert "XYZSECRET" not in str(caught.value) and "pw" not in str(caught.value)


def test_webhook_headers_come_from_a_file_or_an_environment_variable(tmp_path: Path) -> None:
    file = tmp_path / "headers"
    file.write_text("# the token\nAuthorization: Bearer abc\n\nX-Team: ops\n")
    assert webhook_headers(str(file), None) == {"Authorization": "Bearer abc", "X-Team": "ops"}
    env = {"ZEPIX_WEBHOOK_HEADERS": "Authorization: Bearer env", "MINE": "X-Key: 1"}
    assert webhook_headers(None, None, env) == {"Authorization": "Bearer env"}
    assert webhook_headers(None, "MINE", env) == {"X-Key": "1"}
    assert webhook_headers(None, None, {}) == {}
    file.write_text("Authorization Bearer abc\n")
    with pytest.raises(ConfigError, match="line 1 is not 'Header-Name: value'") as caught:
        webhook_headers(str(file), None)
    assert "abc" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        webhook_headers(str(tmp_path / "missing"), None)


def test_shutdown_while_a_webhook_retry_waits_reports_it_undelivered(
        server: Callable[..., ScriptedServer]) -> None:
    s = server([Reply(429, {"Retry-After": "60"})])
    recorder = Recorder()
    retrier = Retrier({"sink.webhook": RetryPolicy(retry_after_cap=120.0)})     # real waits
    d = AlertDispatcher(build_host_manager([WebhookSink(s.url, timeout=5, name="hook")],
                                           log_sink=False), on_result=recorder, retrier=retrier)
    d.submit(ALERT)
    d.submit(Alert("p", "queued", AlertLevel.INFO, "x", 0.0))
    assert s.seen.wait(10)
    assert wait_for(lambda: any(waiting_in(t, "sleep", "retrier.py")  # the first alert
                                for t in threading.enumerate()))       # waits its 60 s
    started = time.monotonic()
    assert d.close(timeout=5)
    assert time.monotonic() - started < 5
    first, second = recorder.results
    assert first[:3] == ("latency", "hook", False)
    assert "stopped by shutdown after 1 attempts" in str(first[3])
    assert second == ("queued", "hook", True, None)   # queued ones still get one try
