"""The single source of the package version; pyproject.toml reads it."""

__version__ = "6.1.0"
