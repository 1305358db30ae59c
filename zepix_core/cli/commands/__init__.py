"""The commands of the ``zepix`` CLI, one module per area."""

from zepix_core.cli.commands.author import COMMANDS as AUTHOR
from zepix_core.cli.commands.backtest import COMMANDS as BACKTEST
from zepix_core.cli.commands.backup import COMMANDS as BACKUP
from zepix_core.cli.commands.base import Command
from zepix_core.cli.commands.config import COMMANDS as CONFIG
from zepix_core.cli.commands.controls import COMMANDS as CONTROLS
from zepix_core.cli.commands.core import COMMANDS as CORE
from zepix_core.cli.commands.dev import COMMANDS as DEV
from zepix_core.cli.commands.health import COMMANDS as HEALTH
from zepix_core.cli.commands.ledger import COMMANDS as LEDGER
from zepix_core.cli.commands.retries import COMMANDS as RETRIES
from zepix_core.cli.commands.status import COMMANDS as STATUS
from zepix_core.cli.commands.store import COMMANDS as STORE
from zepix_core.cli.commands.supervision import COMMANDS as SUPERVISION
from zepix_core.cli.commands.versions import COMMANDS as VERSIONS

COMMANDS: list[Command] = [*CORE, *STATUS, *HEALTH, *RETRIES, *SUPERVISION, *CONTROLS, *VERSIONS,
                           *STORE, *LEDGER,
                           *CONFIG, *AUTHOR, *BACKTEST, *BACKUP, *DEV]

__all__ = ["COMMANDS", "Command"]
