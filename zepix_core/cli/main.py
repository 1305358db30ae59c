"""The ``zepix`` command: argument parsing, exit codes and error messages.

Each command lives in ``cli.commands``; this module only builds the parser and
turns ``ZepixError`` into the contract's one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from zepix_core.contract import logs
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.logs import fields
from zepix_core.contract.process import hard_exit, strays
from zepix_core.contract.stdio import routed_stdout
from zepix_core.contract.terminal import printable

DESCRIPTION = """\
Zepix runs trading strategies as plugins: it discovers them through the
'zepix.plugins' entry points, resolves their versions, activates what is
compatible, and supervises their health.

Start with:
  zepix run --once          discover, activate, one monitoring round, shut down
  zepix plugins             what is installed and its state
  zepix history             which version ran when, and why it stopped

Files: the database is zepix.db and the config zepix.toml in $ZEPIX_HOME (or
the per-user data directory); --db / $ZEPIX_DB and --config override them.
Exit status: 0 success, 1 a check failed, 2 usage or configuration error.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the contract's one line on stderr and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def _common(top: bool) -> _Parser:
    """Options every command takes, before or after the command name.

    The copy on each subcommand defaults to SUPPRESS, so a value given before
    the command name is not overwritten by the subcommand's default.
    """
    unset: dict[str, object] = {} if top else {"default": argparse.SUPPRESS}
    common = _Parser(add_help=False)
    common.add_argument("--db", metavar="PATH", **unset,  # type: ignore[arg-type]
                        help="SQLite database (default: $ZEPIX_DB, else zepix.db in the "
                             "data directory)")
    common.add_argument("--config", metavar="PATH", **unset,  # type: ignore[arg-type]
                        help="TOML config (default: zepix.toml in the data directory; "
                             "a missing file means all defaults)")
    common.add_argument("-v", "--verbose", action="count",
                        default=0 if top else argparse.SUPPRESS,
                        help="log more to stderr (-v info, -vv debug)")
    common.add_argument("--log-format", choices=("text", "json"),
                        default="text" if top else argparse.SUPPRESS,
                        help="stderr log lines as key=value text for people (default) or "
                             "one JSON object per line for log shippers")
    return common


def _listing(common: _Parser) -> _Parser:
    listing = _Parser(add_help=False, parents=[common])
    listing.add_argument("--json", action="store_true",
                         help="print one JSON document on stdout (times in ISO 8601 UTC)")
    return listing


def build_parser() -> argparse.ArgumentParser:
    from zepix_core.cli import commands as _commands

    common = _common(top=False)
    listing = _listing(common)
    parser = _Parser(prog="zepix", description=DESCRIPTION, parents=[_common(top=True)],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _commands.COMMANDS:
        parent = listing if command.listing else common
        p = sub.add_parser(command.name, parents=[parent], help=command.summary,
                           description=command.description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        command.arguments(p)
        p.set_defaults(handler=command.handler)
    return parser


def _configure_logging(verbosity: int, log_format: str) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logs.configure(level, json_lines=log_format == "json", stream=sys.stderr)
    # Worker processes log the same way, at the verbosity the user asked for.
    os.environ["ZEPIX_LOG_FORMAT"] = log_format
    os.environ["ZEPIX_LOG_LEVEL"] = logging.getLevelName(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, args.log_format)
    try:
        with routed_stdout():  # what plugins print is logged, never mixed into --json
            return int(args.handler(args))
    except ZepixError as exc:
        sys.stderr.write(printable(f"zepix: error: {exc}\n"))
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _exit(code: int) -> NoReturn:
    """Exit with ``code`` now, whatever plugins left: non-daemon threads or ``atexit``
    handlers (a plugin's sleeping handler kept the process alive past "shut down
    cleanly"). The host has deactivated every plugin and closed its records by now.
    """
    stray = [t.name for t in strays()]  # by identity: a plugin may name a thread zepix-...
    if stray:
        logging.getLogger("zepix.cli").warning(
            "exiting past threads plugins left running", extra=fields(threads=stray))
    hard_exit(code)


def entry() -> NoReturn:
    """The ``zepix`` console script."""
    try:
        code = main()
    except SystemExit as done:  # argparse's --help and usage errors: their own status
        code = done.code if isinstance(done.code, int) else 0 if done.code is None else 2
    except BaseException:  # noqa: BLE001 - a crash of the run loop still ends the process
        traceback.print_exc()
        code = 1
    _exit(code)


if __name__ == "__main__":
    entry()
