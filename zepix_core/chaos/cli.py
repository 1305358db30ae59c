"""``python -m zepix_core.chaos``: the soak from the command line."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

from zepix_core.chaos.soak import soak


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zepix_core.chaos",
        description="Run `zepix run` on a CSV source with the installed plugins and three "
                    "of the soak's own, inject seeded faults (worker and host SIGKILL, "
                    "SIGTERM, a database lock, an fd flood, a hanging plugin, an invalid "
                    "config, a full disk), then check the invariants and print a table. Exit 0 when they held.")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long (default 3)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="work in DIR (must not exist) and keep it, for a post-mortem")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be > 0")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    report = soak(seed, args.minutes * 60, args.keep)
    out(json.dumps(report.document()) if args.json else report.table())
    return 0 if report.ok else 1
