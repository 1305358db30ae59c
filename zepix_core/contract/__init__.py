"""The outside of the host: what plugins, bots and scripts rely on.

Hook specifications, the API version, typed records and replies, the errors
under ``ZepixError``, strict JSON, structured logs, and the text made safe for
logs and terminals. Everything else in ``zepix_core`` may import it; it imports
nothing of the host.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["api", "configschema", "errors", "hookspecs", "jsondoc", "logs", "model", "redact",
           "replies", "stdio", "terminal"]
