"""The host process's open-file limit: raised at start, watched every round.

A default soft limit of 1,024 open files is used up within a second by a flood
of idle connections or by a plugin that leaks file handles. The host raises
its soft ``RLIMIT_NOFILE`` to the hard limit when it starts, and each round
compares the files it holds with that limit: ``FILES_ALERT`` (80 %) or more
raises the ``zepix:open_files`` alert, which resolves once fewer are open.
"""

from __future__ import annotations

import logging
import os

from zepix_core.contract.logs import fields

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger("zepix.host")

#: The share of the soft open-file limit in use that raises the alert.
FILES_ALERT = 0.8


def raise_open_files() -> tuple[int, int] | None:
    """Raise the soft open-file limit to the hard one; returns ``(soft, hard)`` as they
    are now, None where the platform has no such limit."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("open-file limit raised", extra=fields(was=soft, now=hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("open-file limit not raised", extra=fields(soft=soft, hard=hard,
                                                                   error=str(exc)))
    return soft, hard


def open_files() -> tuple[int | None, int | None]:
    """``(used, soft limit)`` of this process; ``used`` is None when the files cannot be
    counted (which itself means they are used up: counting needs one)."""
    limit = _soft_limit()
    try:
        used = len(os.listdir("/proc/self/fd")) - 1  # minus the one listdir held
    except FileNotFoundError:  # no /proc: nothing to count with
        return None, None
    except OSError:
        return None, limit
    return used, limit


def _soft_limit() -> int | None:
    if resource is None:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def files_alert(counted: int | None = None) -> tuple[bool, str] | None:
    """``(firing, message)`` for the ``open_files`` alert, or None when unknown.
    ``counted``: the files open now as the round's host sample counted them
    (psutil lists ``/proc/self/fd`` once a round already); None counts them here."""
    used, limit = open_files() if counted is None else (counted, _soft_limit())
    if limit is None:
        return None
    if used is None:
        return True, (f"the host cannot open a file: its {limit} open files are used up "
                      "(a plugin leaking files, or a flood of connections)")
    share = used / limit
    if share >= FILES_ALERT:
        return True, (f"the host holds {used} of its {limit} open files ({share:.0%}); "
                      "a plugin leaking files, or a flood of connections?")
    return False, f"the host holds {used} of its {limit} open files ({share:.0%})"
