"""Finding a market source by name among the ``zepix.sources`` entry points."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from zepix_core.contract.errors import ConfigError, ZepixError, describe
from zepix_core.market.sources import GROUP, Source


def source_names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load_source(name: str, options: Mapping[str, object]) -> Source:
    """Build the source ``name`` with ``options``; a one-line ``ConfigError`` when it is
    not installed or refuses its options."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ConfigError(f"no market source named {name!r}; installed: "
                          f"{', '.join(source_names()) or 'none'} (entry point group {GROUP})")
    try:
        factory = found[0].load()
        source = factory(options)
    except ZepixError:
        raise
    except Exception as exc:  # noqa: BLE001 - a third-party source's own failure, one line
        raise ConfigError(f"market source {name} ({found[0].value}) failed to start: "
                          f"{describe(exc)}") from None
    if not callable(getattr(source, "batches", None)):
        raise ConfigError(f"market source {name} ({found[0].value}) has no batches(stop) "
                          "method; see docs/sources.md")
    return source  # type: ignore[no-any-return]
