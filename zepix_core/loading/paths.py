"""Where Zepix keeps its files: ``$ZEPIX_HOME`` or the per-user data directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    home = os.environ.get("ZEPIX_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir("zepix", appauthor=False))


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--db`` first, then ``$ZEPIX_DB``, then ``zepix.db`` in the data directory."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ZEPIX_DB")
    return Path(env) if env else data_dir() / "zepix.db"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` first, then ``zepix.toml`` in the data directory (may not exist)."""
    return Path(explicit) if explicit else data_dir() / "zepix.toml"


def plugin_data_dir(plugin_id: str) -> Path:
    return data_dir() / "plugins" / plugin_id


def store_dir(db: str | os.PathLike[str] | None = None) -> Path:
    """The versioned plugin store of the database ``db`` (default: ``db_path()``), beside
    it: ``store/`` next to a ``zepix.db``, ``<name>.store/`` next to any other database
    file. A store belongs to one database, whose history and desired versions describe
    it, so two databases never share one by accident."""
    path = db_path(db)
    return path.parent / ("store" if path.name == "zepix.db" else f"{path.stem}.store")
