"""The host: discovery to activation at start, the rounds, reloads of a changed
config, the trading bookkeeping, and a clean shutdown. Only the edges
(``app``, ``cli``, ``api``, ``telegram``, the author kit) import it.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["activation", "bars", "compose", "facade", "feeding", "hooks", "host", "lease", "loop",
           "outage", "parts", "pauses", "reconfig", "replay", "rounds", "trades", "turns"]
