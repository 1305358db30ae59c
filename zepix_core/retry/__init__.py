"""Retries for every outbound call: one policy per operation, categories, statistics.

Operations (CONTRACT §13): ``sink.webhook``, ``sink.telegram``,
``sink.alertmanager``, ``telegram``, ``sync``, ``store.install``. Each has a
default ``RetryPolicy`` (``OPERATIONS``) that ``[retry."OPERATION"]`` in the config
overrides (``policies_from_config``). Built on tenacity.

A caller runs one operation with retries on its own thread (never a
monitoring round or the bar path: ``run`` sleeps between tries)::

    from zepix_core.retry import Retrier, RetryFailed, RetryStats, from_status

    retrier = Retrier(policies, stats=RetryStats(store, alert_after=3, on_streak=alert))
    # a host has one already, built from [retry] by retrier_from_config: host.retrier
    try:
        rows = retrier.run("sync", lambda: copy_trades(central))
    except RetryFailed as exc:       # exhausted, permanent, or stopped by shutdown
        log.warning("sync failed", extra=fields(error=str(exc)))
        exc.outcome.result           # "exhausted" | "permanent" | "stopped"

An asyncio caller (python-telegram-bot) awaits ``retrier.run_async(operation,
coroutine_function)`` instead: the same policy, with ``asyncio.sleep`` waits.
``fn`` signals failure by raising. ``classify`` sorts exceptions from urllib,
http.client, socket, ssl, DB-API drivers and python-telegram-bot; an HTTP
answer becomes an exception with ``from_status(status, headers)`` (429 ->
``rate_limit`` with its ``Retry-After``, 5xx -> ``transient``, other 4xx ->
``permanent``); anything else can raise ``OutboundError(msg, category)`` or pass
``run(..., classifier=fn)`` returning a ``Classified`` (or None to fall back).
``http.request`` sends one HTTP request bounded in time and size, raising
exactly those errors.

Statistics: every ``run`` ends in one ``OperationOutcome`` handed to ``RetryStats``,
which counts it per operation and category, persists it through its book
(``storage.Store`` in a host: table ``retry_stats``, shown by
``zepix retries``) and calls ``on_streak`` after ``alert_after`` exhausted
outcomes of one operation in a row. ``Retrier.stop()`` at shutdown ends every
wait at once (``RetryFailed`` with result ``stopped``).
"""

from zepix_core.retry.categories import (
    Category,
    Classified,
    Classifier,
    OutboundError,
    classify,
    from_status,
    parse_retry_after,
    status_category,
)
from zepix_core.retry.policy import (
    GLOBAL_DEFAULTS,
    OPERATIONS,
    STRATEGIES,
    RetryPolicy,
    alert_after,
    policies_from_config,
    policy_for,
)
from zepix_core.retry.report import retry_report
from zepix_core.retry.retrier import Retrier, RetryFailed, retrier_from_config
from zepix_core.retry.stats import OnStreak, OperationOutcome, RetryBook, RetryStats, by_category
from zepix_core.retry.waits import delays

__all__ = [
    "GLOBAL_DEFAULTS",
    "OPERATIONS",
    "STRATEGIES",
    "Category",
    "Classified",
    "Classifier",
    "OnStreak",
    "OperationOutcome",
    "OutboundError",
    "Retrier",
    "RetryBook",
    "RetryFailed",
    "RetryPolicy",
    "RetryStats",
    "alert_after",
    "by_category",
    "classify",
    "delays",
    "from_status",
    "parse_retry_after",
    "policies_from_config",
    "policy_for",
    "retrier_from_config",
    "retry_report",
    "status_category",
]
