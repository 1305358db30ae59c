"""Health monitoring: the monitoring round (``monitor``), the pure rules that
judge it, anomaly detection against each plugin's own baseline, resource
samples, latency sketches and histograms, and the alert pipeline.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = [
    "alerting", "anomaly", "baselines", "histogram", "monitor", "resources", "rules", "shapes",
    "sketch", "watched"
]
