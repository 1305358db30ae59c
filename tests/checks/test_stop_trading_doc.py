"""docs/operations.md opens with "Stop trading now" (issue 28, done when): the first
section an operator sees, and every ``zepix`` command in it parses as written."""

from __future__ import annotations

import re
import shlex

from tests.paths import ROOT
from zepix_core.cli.main import build_parser


def test_operations_opens_with_stop_trading_now() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    assert sections[1].startswith("Stop trading now\n"), sections[1][:40]
    first = sections[1]
    commands = [line.split("#")[0].strip() for line in first.splitlines()
                if line.strip().startswith("zepix ")]
    assert any("pause --all" in c for c in commands) and commands
    commands += re.findall(r"`(zepix [^`]+)`", first)
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])  # exits (status 2) if it does not
        assert args.command == shlex.split(command)[1], command
