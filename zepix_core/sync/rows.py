"""Trade rows as the ledger accepts them: a plugin owns its file and may write anything.

A plugin has full SQL access to its own database, so the sync manager checks
every row before it leaves: whole ids and revs, finite numbers, text where
text belongs. A bad row fails that plugin's sync with the row named (its
cursor stays before it); it never reaches the ledger or blocks other plugins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeGuard

from zepix_core.contract.errors import ZepixError
from zepix_core.storage.central import TRADE_FIELDS, LedgerTrade

_WHOLE = ("id", "rev")
_NUMBERS = ("quantity", "entry_price", "opened_at", "updated_at", "fee")
_OPTIONAL_NUMBERS = ("stop", "target", "exit_price", "closed_at", "pnl")
_TEXT = ("symbol", "side", "status", "extra")
_OPTIONAL_TEXT = ("ref", "reason", "close_reason")
#: Longest text accepted in one field, so one row cannot bloat the ledger.
MAX_TEXT = 65_536


class BadRow(ZepixError):
    """A trade row in a plugin database that the ledger must not take."""


def checked(row: Mapping[str, object], where: str) -> LedgerTrade:
    """``row`` if every field has the ledger's type; else ``BadRow`` naming it."""
    if not _fits(row, where):
        missing = next(f for f in ("id", *TRADE_FIELDS) if f not in row)
        raise _bad(row, where, missing, "a value (the column is missing)")
    return row


def _fits(row: Mapping[str, object], where: str) -> TypeGuard[LedgerTrade]:
    """True when ``row`` has every field of a ledger trade with its type; else ``BadRow``."""
    for name in _WHOLE:
        if type(row.get(name)) is not int:
            raise _bad(row, where, name, "a whole number")
    for name in (*_NUMBERS, *_OPTIONAL_NUMBERS):
        value = row.get(name)
        if value is None and name in _OPTIONAL_NUMBERS:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise _bad(row, where, name, "a finite number")
    for name in (*_TEXT, *_OPTIONAL_TEXT):
        value = row.get(name)
        if value is None and name in _OPTIONAL_TEXT:
            continue
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _bad(row, where, name, f"text of at most {MAX_TEXT} characters")
    return set(TRADE_FIELDS) | {"id"} <= row.keys()


def _bad(row: Mapping[str, object], where: str, name: str, want: str) -> BadRow:
    return BadRow(f"{where}: trade {row.get('id')!r} has {name} = "
                  f"{str(row.get(name))[:40]!r}; expected {want}; fix or delete the row")
