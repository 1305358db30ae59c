"""Redaction of secrets in URLs and install sources before they are stored, logged or shown."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+?(?=[.,:;)\]]*(?:[\s'\"<>]|$))")
HIDDEN = "***"


def redact_url(url: str) -> str:
    """``url`` with credentials, path, query and fragment hidden; scheme and host kept.

    ``https://hooks.slack.com/services/T0/B0/XYZ`` -> ``https://hooks.slack.com/***``;
    ``https://user:token@host/x`` -> ``https://***@host/***``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return HIDDEN
    if not parts.scheme or not host:
        return HIDDEN
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{HIDDEN}@{netloc}"
    hidden = bool(parts.path.strip("/") or parts.query or parts.fragment)
    return urlunsplit((parts.scheme, netloc, f"/{HIDDEN}" if hidden else "", "", ""))


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (install sources, error messages)."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def redact_source(source: str) -> str:
    """An install source as it may be shown: URLs lose their credentials only.

    A local path or a requirement (``pkg==1.0``) is kept; a URL keeps its path so an
    operator can still tell which file it was, but never its ``user:token@`` part.
    """
    def strip(match: re.Match[str]) -> str:
        try:
            parts = urlsplit(match.group(0))
        except ValueError:
            return HIDDEN
        if "@" not in parts.netloc:
            return match.group(0)
        netloc = f"{HIDDEN}@{parts.netloc.rsplit('@', 1)[1]}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _URL.sub(strip, source)


#: Field names whose string values are secrets wherever they are logged.
_SECRET_NAME = re.compile(r"token|password|secret", re.IGNORECASE)


def redact_field(name: str, value: object) -> object:
    """A logged field's value: ``***`` for a string under a secret-sounding name, a
    string without URL credentials otherwise (the one redaction of log lines)."""
    if not isinstance(value, str):
        return value
    return HIDDEN if _SECRET_NAME.search(name) else redact_source(value)
