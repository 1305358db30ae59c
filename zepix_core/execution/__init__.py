"""Running plugin code: hook calls under deadlines in process or in a worker,
the boundary every plugin value crosses, the lifecycle of one plugin (load,
activate, deactivate), dispatch of bars and intents, and the narrow ports the
host hands its subsystems.
"""

#: The package's public modules; a module named ``_x`` is private to it.
__all__ = [
    "boundary", "calls", "dispatch", "frames", "intents", "lifecycle", "ports", "runner",
    "worker", "workerproc"
]
