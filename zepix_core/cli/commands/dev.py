"""``zepix dev PATH``: install a plugin project editable into a scratch prefix, then check
and backtest it on every save."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from zepix_core.app import dev
from zepix_core.cli.commands.backtest import source_options
from zepix_core.cli.commands.base import Command
from zepix_core.cli.render import emit_json
from zepix_core.contract.errors import ZepixError


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, metavar="PATH", help="the plugin project's directory")
    p.add_argument("--source", metavar="NAME", help="market source (default: the replay)")
    p.add_argument("--source-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the source (repeatable)")
    p.add_argument("--once", action="store_true", help="one cycle, then exit (1 if a "
                   "check fails)")
    p.add_argument("--json", action="store_true",
                   help="with --once: the cycle's whole document as JSON")
    p.add_argument("--prefix", type=Path, metavar="DIR", help=argparse.SUPPRESS)


def _extra(args: argparse.Namespace) -> list[str]:
    extra = ["--source", args.source] if args.source else []
    for item in args.source_option:
        extra += ["--source-option", item]
    return extra


def _dev(args: argparse.Namespace) -> int:
    project = args.path.resolve()
    if not project.is_dir():
        raise ZepixError(f"dev: {args.path} is not a directory")
    if args.once:
        return _once(args, project)
    with tempfile.TemporaryDirectory(prefix="zepix-dev-home-") as scratch:
        prefix = Path(scratch)
        dev.install(project, prefix)
        sys.stdout.write(f"installed {project} (editable) into {prefix}; checking...\n")
        sys.stdout.flush()
        return _watch(project, prefix, _extra(args))


def _once(args: argparse.Namespace, project: Path) -> int:
    options = source_options("dev", args.source_option)
    with tempfile.TemporaryDirectory(prefix="zepix-dev-home-") as scratch:
        prefix = args.prefix or Path(scratch)
        site = dev.site_dir(prefix) if args.prefix else dev.install(project, prefix)
        document = dev.cycle(site, source=args.source, options=options)
    if args.json:
        emit_json(document)
    else:
        sys.stdout.writelines(f"{line}\n" for line in dev.changes(None, document))
    failed = any(v.startswith("failed") for v in document["checks"].values())
    return 1 if failed or document.get("backtest_error") else 0


def _watch(project: Path, prefix: Path, extra: list[str]) -> int:
    from watchfiles import watch

    before: dict[str, object] | None = None

    def run() -> None:
        nonlocal before
        found = dev.cycle_in_child(project, prefix, extra)
        if isinstance(found, str):
            sys.stdout.write(f"cycle failed: {found}\n")
        else:
            sys.stdout.writelines(f"{line}\n" for line in dev.changes(before, found))
            before = found
        sys.stdout.write("watching for changes (Ctrl-C stops)\n")
        sys.stdout.flush()

    try:  # Ctrl-C stops it at any time, the first cycle included
        run()
        for changed in watch(project, watch_filter=_sources, raise_interrupt=False):
            names = sorted({Path(p).name for _, p in changed})
            sys.stdout.write(f"changed: {', '.join(names)[:200]}\n")
            run()
    except KeyboardInterrupt:
        pass
    return 0


def _sources(change: object, path: str) -> bool:
    """Python sources and project files, not caches or build output."""
    parts = Path(path).parts
    return (path.endswith((".py", ".toml", ".cfg")) and "__pycache__" not in parts
            and not any(p.endswith(".egg-info") or p in ("build", ".venv") for p in parts))


COMMANDS = [
    Command("dev", "check and backtest a plugin project on every save",
            "Install the project at PATH in editable mode into a scratch prefix (the\n"
            "environment is not touched), then run the conformance suite against each\n"
            "of its plugins and a short backtest of them on the seeded replay (or\n"
            "--source). On every save of a .py or .toml file it does it again in a fresh\n"
            "interpreter and prints what changed: checks, trades, return, errors.\n\n"
            "  zepix dev ./my-strategy\n"
            "  zepix dev ./my-strategy --once          # one cycle; exit 1 if a check fails",
            _dev, _args),
]
