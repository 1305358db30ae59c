"""The commands of the ``zepix`` CLI, one module per area."""

from ._base import Command
from .core import COMMANDS as CORE

COMMANDS: list[Command] = [*CORE]

__all__ = ["COMMANDS", "Command"]
