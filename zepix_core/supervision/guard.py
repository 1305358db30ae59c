"""One plugin's supervision state: its limits, restart policy and circuit breaker.

``SupervisionLimits`` come from defaults, then ``[supervision]``, then the plugin's own
table (the keys of ``SUPERVISION_DEFAULTS`` in ``_config``); a ``RestartRecord`` holds
what the supervisor keeps about the plugin across its restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from zepix_core.contract.errors import ConfigError
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.loading.config import SUPERVISION_DEFAULTS, Config
from zepix_core.supervision.breaker import CircuitBreaker, Transition
from zepix_core.supervision.restart import Clock, RestartPolicy


@dataclass(frozen=True)
class SupervisionLimits:
    """One plugin's supervision settings: defaults, then ``[supervision]``, then its own
    table (the keys of ``SUPERVISION_DEFAULTS``)."""

    max_restarts: int
    restart_backoff: float
    restart_backoff_cap: float
    restart_jitter: float
    restart_intensity: int
    restart_window: float
    stable_after: float
    hung_grace: float
    restart_on_stale: float | None
    stop_grace: float
    memory_limit_mb: float | None
    memory_samples: int
    breaker_failures: int
    breaker_open_for: float
    breaker_successes: int

    @classmethod
    def of(cls, config: Config, plugin_id: str) -> SupervisionLimits:
        own = config.plugins.get(plugin_id, {})
        merged = {**SUPERVISION_DEFAULTS, **config.sections.get("supervision", {}),
                  **{k: v for k, v in own.items() if k in SUPERVISION_DEFAULTS}}
        limits = cls(**{f.name: merged[f.name] for f in fields(cls)})
        if limits.restart_backoff_cap < limits.restart_backoff:
            where = f"plugins.{plugin_id}" if plugin_id in config.plugins else "supervision"
            raise ConfigError(f"{config.path or '<defaults>'}: {where}: restart_backoff_cap "
                              f"({limits.restart_backoff_cap:g}) is below restart_backoff "
                              f"({limits.restart_backoff:g}); raise the cap")
        return limits


@dataclass
class RestartRecord:
    """What the supervisor keeps about one plugin across its restarts. ``due`` is the
    monotonic time of a scheduled restart; ``gave_up`` the policy's reason once it
    refused, and ``down`` whether the plugin has been set FAILED for it."""

    limits: SupervisionLimits
    policy: RestartPolicy
    breaker: CircuitBreaker
    due: float | None = None
    attempt: int = 0
    cause: str = ""
    gave_up: str | None = None
    down: bool = False
    hung_since: float | None = None
    stale_since: float | None = None
    over_limit: int = 0
    dead_rounds: int = 0
    instance: PluginSlot | None = None


def new_guard(config: Config, plugin_id: str, clock: Clock, rand: Callable[[], float],
              on_transition: Callable[[Transition], None]) -> RestartRecord:
    limits = SupervisionLimits.of(config, plugin_id)
    policy = RestartPolicy(
        base=limits.restart_backoff, cap=limits.restart_backoff_cap,
        jitter=limits.restart_jitter, max_attempts=limits.max_restarts,
        intensity=(limits.restart_intensity, limits.restart_window),
        stable_after=limits.stable_after, clock=clock, rand=rand)
    return RestartRecord(limits, policy, new_breaker(limits, clock, on_transition))


def new_breaker(limits: SupervisionLimits, clock: Clock,
                on_transition: Callable[[Transition], None]) -> CircuitBreaker:
    """A closed breaker for a fresh instance."""
    return CircuitBreaker(failure_threshold=limits.breaker_failures,
                          open_for=limits.breaker_open_for, clock=clock,
                          close_after=limits.breaker_successes,
                          half_open_trials=max(3, limits.breaker_successes),
                          on_transition=on_transition)
