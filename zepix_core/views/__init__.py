"""The documents every operator surface shows: built once, rendered by the CLI's
``--json``, served by the HTTP API and drawn by the dashboard.

Each function takes the store (or the host's slots) and returns plain records
with epoch-second times; the edges turn times into ISO 8601 strings.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["jsonable", "records", "series", "versions"]
