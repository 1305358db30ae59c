"""Text bound for a terminal, made inert: the one escaping every CLI line passes through.

A plugin id, a reason, a config value or a plugin's printed output may hold
control characters: ``ESC ] 0 ; ... BEL`` retitles the operator's terminal,
``ESC [ 31 m`` recolours it, CR and backspace overwrite what was printed, and
bidirectional overrides reorder it. :func:`printable` shows each such character
as a visible escape (``\\x1b``, ``\\u202e``) and keeps newline and tab.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional marks,
# embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (idempotent)."""
    return _CONTROL.sub(_escaped, text)
