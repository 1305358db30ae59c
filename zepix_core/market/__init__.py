"""Market data for plugins: the seeded replay, the CSV source, aggregation of 1m
bars to higher timeframes, and the ``zepix.sources`` registry.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["aggregation", "csvfile", "replay", "sources"]
