"""The key table of docs/config.md, rendered from the schema (``loading.tables``).

``python -m zepix_core.loading.configdoc`` rewrites the part of docs/config.md between
the two markers; a test fails when the file and the schema drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zepix_core.contract.configschema import Key, Table, dotted
from zepix_core.loading.tables import PLUGIN, TABLES

COMMAND = "python -m zepix_core.loading.configdoc"
START = f"<!-- keys: generated from zepix_core/loading/tables.py by `{COMMAND}`; do not edit -->"
END = "<!-- keys: end -->"


def _default(value: object) -> str:
    return "unset" if value is None else f"`{json.dumps(value)}`"


def _allowed(key: Key) -> str:
    if key.choices is not None:
        return ", ".join(f"`{c}`" for c in key.choices)
    return key.wanted()


def _rows(table: Table, prefix: str) -> list[str]:
    rows = [f"| `{prefix}{k.name}` | {_allowed(k)} | {_default(k.default)} | "
            f"{'yes' if k.live else 'at restart'} | {'yes' if k.secret else ''} | {k.doc} |"
            for k in table.keys]
    for name, sub in table.tables.items():
        rows += _rows(sub, f"{prefix}{dotted([name])}.")
    return rows


def render() -> str:
    """The generated block, markers included."""
    lines = [START, ""]
    for table in [*TABLES.values(), PLUGIN]:
        lines += [f"### [{table.name}]", "", table.doc + ".", "",
                  "| key | value | default | live | secret | what |", "|---|---|---|---|---|---|",
                  *_rows(table, ""), ""]
    return "\n".join([*lines, END])


def spliced(text: str) -> str:
    """``text`` (docs/config.md) with its generated block replaced by ``render()``."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return head + render() + tail


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/config.md")
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        sys.stderr.write(f"{path}: the markers {START!r} and {END!r} are missing\n")
        return 2
    path.write_text(spliced(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
