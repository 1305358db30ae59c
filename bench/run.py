"""Run the benchmarks in bench/, print one table and write bench/results.json.

A benchmark is a module ``bench/bench_<name>.py`` with a function
``run(quick: bool = False) -> list[dict]`` (``quick`` may be left out). Each
dict is one figure: ``bench`` and ``what`` name it; ``seconds``, ``ratio``
and ``percent`` are shown in their columns; any other fields are listed
beside them. A new benchmark needs only its module: this runner finds it.

    python bench/run.py                 # every benchmark
    python bench/run.py --quick         # fewer repetitions, same figures
    python bench/run.py monitor         # only bench/bench_monitor.py

A benchmark that raises is reported and the others still run; the exit
status is then 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
SHOWN = ("bench", "what", "seconds", "ratio", "percent")


def discover(names: Sequence[str] = ()) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if names:
        wanted = {f"bench_{n.removeprefix('bench_').removesuffix('.py')}.py" for n in names}
        missing = wanted - {p.name for p in found}
        if missing:
            raise SystemExit(f"no such benchmark: {', '.join(sorted(missing))} (have "
                             f"{', '.join(p.stem.removeprefix('bench_') for p in found)})")
        found = [p for p in found if p.name in wanted]
    return found


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run_one(module: ModuleType, quick: bool) -> list[dict[str, Any]]:
    run: Callable[..., list[dict[str, Any]]] = module.run
    takes_quick = "quick" in inspect.signature(run).parameters
    return run(quick=quick) if takes_quick else run()


def duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def cells(row: dict[str, Any]) -> list[str]:
    extra = ", ".join(f"{k}={v}" for k, v in row.items() if k not in SHOWN)
    seconds, ratio, percent = row.get("seconds"), row.get("ratio"), row.get("percent")
    return [str(row.get("bench", "")), str(row.get("what", "")),
            duration(seconds) if isinstance(seconds, (int, float)) else "",
            f"x{ratio:.1f}" if isinstance(ratio, (int, float)) else "",
            f"{percent:.2f} %" if isinstance(percent, (int, float)) else "", extra]


def table(rows: Sequence[dict[str, Any]]) -> str:
    heads = ["BENCH", "WHAT", "TIME", "RATIO", "CPU", "NOTES"]
    body = [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in [heads, *body]) for i in range(len(heads))]
    right = {2, 3, 4}
    return "\n".join(
        "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                  for i, c in enumerate(line)).rstrip()
        for line in [heads, *body])


def machine() -> str:
    """The machine and its load, printed beside the figures: the machine is shared,
    so every figure is a ratio against a baseline measured in the same run, and the
    load average says how busy the cores were meanwhile."""
    one, five, fifteen = os.getloadavg()
    return (f"machine: {platform.node()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cpus, Python {platform.python_version()}, "
            f"{platform.platform()}; load average {one:.2f} {five:.2f} {fifteen:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))  # zepix_core from this checkout when not installed
    rows: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    print(machine(), flush=True)
    first = machine()
    for path in discover(args.names):
        name = path.stem.removeprefix("bench_")
        started = time.perf_counter()
        before = os.getloadavg()[0]
        try:
            for row in run_one(load(path), args.quick):
                rows.append({**row, "load": f"{before:.1f}-{os.getloadavg()[0]:.1f}"}
                            if "load" not in row else row)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            failed[name] = traceback.format_exc()
            sys.stderr.write(f"bench {name} failed:\n{failed[name]}\n")
        sys.stderr.write(f"bench {name}: {time.perf_counter() - started:.1f} s\n")
        # Each module's figures are kept as soon as it ends: a long run cut short
        # (a busy shared machine) still leaves what it measured.
        _write(args.out, first, args.quick, rows, failed, done=False)
    print(table(rows))
    print(f"\n{machine()}")
    _write(args.out, first, args.quick, rows, failed, done=True)
    print(f"\nwrote {args.out}")
    return 1 if failed else 0


def _write(out: Path, first: str, quick: bool, rows: list[dict[str, Any]],
           failed: dict[str, str], *, done: bool) -> None:
    document = {
        "machine": first, "machine_at_end": machine() if done else None, "complete": done,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick, "python": platform.python_version(),
        "platform": platform.platform(), "cpus": os.cpu_count(),
        "results": rows, "failed": failed,
    }
    out.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
