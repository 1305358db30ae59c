"""Alert sinks and delivery: in-memory sinks, and the webhook against a real local server."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from zepix_core import Alert, AlertLevel, ConfigError, hookimpl
from zepix_core.alerts.sinks import (
    AlertDispatcher,
    LogSink,
    WebhookSink,
    alert_payload,
    build_host_manager,
)

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
    """Fails ``failures`` times, then delivers."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    @hookimpl
    def alert_sink(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"refused #{self.calls}")


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def dispatcher(*sinks: object, recorder: Recorder, sleep: FakeSleep | None = None,
               **kwargs: Any) -> AlertDispatcher:
    pm = build_host_manager(sinks, log_sink=False)
    return AlertDispatcher(pm, on_result=recorder, sleep=sleep or FakeSleep(),
                           rand=lambda: 0.5, **kwargs)


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


def test_a_sink_failing_twice_is_retried_with_jittered_backoff() -> None:
    recorder, sleep, flaky = Recorder(), FakeSleep(), FlakySink(failures=2)
    d = dispatcher(flaky, recorder=recorder, sleep=sleep, backoff=1.0)
    d.submit(ALERT)
    assert d.close(timeout=5)
    assert flaky.calls == 3
    assert sleep.delays == [0.5, 1.0]                 # rand()=0.5 times 1, 2
    assert recorder.results == [("latency", "flaky", True, None)]


def test_a_sink_that_keeps_failing_is_reported_undelivered_and_others_still_deliver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, sleep, broken, good = Recorder(), FakeSleep(), FlakySink(failures=99), ListSink()
    d = dispatcher(broken, good, recorder=recorder, sleep=sleep, backoff=1.0, max_backoff=3.0)
    d.submit(ALERT)
    assert d.close(timeout=5)
    assert broken.calls == 4                          # the first try and 3 retries
    assert sleep.delays == [0.5, 1.0, 1.5]            # capped at max_backoff before jitter
    assert good.alerts == [ALERT]
    assert ("latency", "flaky", False, "ConnectionError: refused #4 (after 4 attempts)") \
        in recorder.results
    assert "alert undelivered sink=flaky" in caplog.text


def test_a_slow_sink_never_blocks_submit_and_a_full_queue_drops_with_a_report() -> None:
    release = threading.Event()

    class StuckSink:
        name = "stuck"

        @hookimpl
        def alert_sink(self, alert: Alert) -> None:
            release.wait(10)

    recorder = Recorder()
    d = dispatcher(StuckSink(), recorder=recorder, queue_size=2)
    started = time.monotonic()
    accepted = [d.submit(ALERT) for _ in range(10)]
    assert time.monotonic() - started < 0.5
    assert accepted.count(True) <= 3                  # one in the sink, two waiting
    dropped = [r for r in recorder.results if r[1] == "dispatcher"]
    assert len(dropped) == accepted.count(False)
    assert all("queue full" in str(r[3]) for r in dropped)
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

class Server:
    """A local HTTP server answering POSTs with the statuses in ``replies``,
    then 200; it records every request."""

    def __init__(self, replies: list[int]) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[dict[str, str], Any]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append((dict(self.headers), json.loads(body)))
                status = owner.replies.pop(0) if owner.replies else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/zepix"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_webhook_posts_the_alert_as_json(servers: list[Server]) -> None:
    server = Server([])
    servers.append(server)
    WebhookSink(server.url, timeout=5).alert_sink(ALERT)
    [(headers, body)] = server.requests
    assert headers["Content-Type"] == "application/json"
    assert body == json.loads(json.dumps(alert_payload(ALERT)))


def test_webhook_answering_500_twice_then_200_is_delivered_on_the_third_try(
    servers: list[Server],
) -> None:
    server = Server([500, 500])
    servers.append(server)
    recorder, sleep = Recorder(), FakeSleep()
    sink = WebhookSink(server.url, timeout=5)
    d = dispatcher(sink, recorder=recorder, sleep=sleep)
    d.submit(ALERT)
    assert d.close(timeout=10)
    assert len(server.requests) == 3
    assert len(sleep.delays) == 2
    name = f"webhook:127.0.0.1:{server.httpd.server_address[1]}/hooks/zepix"
    assert recorder.results == [("latency", name, True, None)]


def test_webhook_that_always_fails_is_undelivered_with_the_http_error(
    servers: list[Server],
) -> None:
    server = Server([503] * 10)
    servers.append(server)
    recorder = Recorder()
    d = dispatcher(WebhookSink(server.url, timeout=5, name="ops"), recorder=recorder)
    d.submit(ALERT)
    assert d.close(timeout=10)
    assert len(server.requests) == 4
    [(_, sink, delivered, error)] = recorder.results
    assert (sink, delivered) == ("ops", False)
    assert error is not None and "HTTP Error 503" in error and "after 4 attempts" in error


def test_webhook_redirect_is_a_failure_not_a_bodiless_get(servers: list[Server]) -> None:
    server = Server([302])
    servers.append(server)
    with pytest.raises(Exception, match="302"):
        WebhookSink(server.url, timeout=5).alert_sink(ALERT)
    assert len(server.requests) == 1


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
        assert time.monotonic() - started < 0.1          # monitoring is not held up
        assert d.close(timeout=10)
        assert time.monotonic() - started < 5
        [(_, sink, delivered, error)] = recorder.results
        assert (sink, delivered) == ("silent", False)
        assert error is not None and "timed out" in error and "after 4 attempts" in error
    finally:
        silent.close()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http:///nohost"])
def test_webhook_refuses_a_url_it_cannot_post_to(url: str) -> None:
    with pytest.raises(ConfigError, match="webhook url"):
        WebhookSink(url)
