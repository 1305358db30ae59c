"""The ``zepix`` command: parsing and exit codes (``main``), one module per group
of commands (``commands``), and presentation for people and machines (``render``).
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = ["commands", "main", "render"]
