"""Alert delivery: the sinks an alert goes to (log, webhook, Alertmanager), each
with its own queue and thread, so a slow sink never holds the host.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["alertmanager", "delivery", "manager", "sinks"]
