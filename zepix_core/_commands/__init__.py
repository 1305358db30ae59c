"""The commands of the ``zepix`` CLI, one module per area."""

from ._base import Command
from .author import COMMANDS as AUTHOR
from .core import COMMANDS as CORE
from .health import COMMANDS as HEALTH
from .supervision import COMMANDS as SUPERVISION
from .versions import COMMANDS as VERSIONS

COMMANDS: list[Command] = [*CORE, *HEALTH, *SUPERVISION, *VERSIONS, *AUTHOR]

__all__ = ["COMMANDS", "Command"]
