"""Supervision: keep each active plugin running within its limits, restart it
with backoff, open its circuit breaker, and apply operators' restart requests.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["breaker", "breakers", "controls", "guard", "loopthread", "operator", "requests", "restart",
           "supervisor"]
