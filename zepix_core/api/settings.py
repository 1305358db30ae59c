"""``[http]``: where the API listens, where its token comes from, how big a body may be."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zepix_core.contract.configschema import require
from zepix_core.contract.errors import ConfigError
from zepix_core.loading.tables import HTTP, listen_problem

#: ``[http]`` with its defaults, declared in ``loading.tables``.
DEFAULTS: Mapping[str, Any] = HTTP.defaults()
# S105: the environment variable's name, not a token
TOKEN_ENV = "ZEPIX_API_TOKEN"  # noqa: S105
# S105: the environment variable's name, not a token
VIEWER_TOKEN_ENV = "ZEPIX_API_VIEWER_TOKEN"  # noqa: S105
#: Overrides ``[http] listen`` (test suites set ``127.0.0.1:0``: any free port).
LISTEN_ENV = "ZEPIX_HTTP_LISTEN"
TOKEN_FILE = "api-token"  # noqa: S105 - a file name, not a token


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int
    token: str
    explicit_token: bool          # from the environment or token_file, not generated
    max_body: int = 65536
    allowed_hosts: tuple[str, ...] = ()
    viewer_token: str | None = None
    reads_need_token: bool = False  # already True when the address is not loopback

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8787`` for IPv6) into its parts."""
    problem = listen_problem(text) if text else "got ''; expected HOST:PORT"
    if problem:
        raise ConfigError(f"http.listen: {problem}")
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def read_settings(table: Mapping[str, Any], data_dir: Path) -> HttpSettings | None:
    """The server's settings, or None when ``listen`` is ``""``."""
    require(HTTP, table, ("http",), "[http]")
    merged = {**DEFAULTS, **table}
    if LISTEN_ENV in os.environ:
        merged["listen"] = os.environ[LISTEN_ENV]
    if not isinstance(merged["listen"], str):
        raise ConfigError("http.listen: must be a string such as \"127.0.0.1:8787\"")
    if merged["listen"] == "":
        return None
    host, port = parse_listen(merged["listen"])
    limit = int(merged["max_body"])
    token, explicit = _token(merged["token_file"], data_dir)
    if not explicit and not is_loopback(host):
        raise ConfigError(f"http.listen: {host} is not a loopback address, so every request "
                          f"needs a token: set ${TOKEN_ENV} or http.token_file")
    hosts, reads = _allowed_hosts(merged["allowed_hosts"]), merged["reads_need_token"]
    if not isinstance(reads, bool):
        raise ConfigError(f"http.reads_need_token: got {reads!r}; expected true or false")
    return HttpSettings(host, port, token, explicit, limit, hosts,
                        _viewer_token(merged["viewer_token_file"], token),
                        reads or not is_loopback(host))


def _allowed_hosts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(h, str) and h for h in value):
        raise ConfigError(f"http.allowed_hosts: got {value!r}; expected a list of host "
                          "names such as [\"zepix.example.org\"]")
    return tuple(h.lower().strip("[]") for h in value)


def _viewer_token(token_file: object, token: str) -> str | None:
    """``$ZEPIX_API_VIEWER_TOKEN``, else ``viewer_token_file``, else no viewer token."""
    viewer = os.environ.get(VIEWER_TOKEN_ENV, "").strip()
    if not viewer and token_file is not None:
        viewer = _read_token("http.viewer_token_file", token_file)
    if viewer and viewer == token:
        raise ConfigError("http.viewer_token_file: the viewer token equals the API token; "
                          "give the viewer a token of its own")
    return viewer or None


def _read_token(key: str, token_file: object) -> str:
    path = Path(str(token_file)).expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path} ({exc.strerror})") from None
    if not token:
        raise ConfigError(f"{key}: {path} is empty; put a token in it")
    return token


def _token(token_file: object, data_dir: Path) -> tuple[str, bool]:
    """``$ZEPIX_API_TOKEN``, else ``token_file``, else the generated ``api-token``."""
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env, True
    if token_file is not None:
        return _read_token("http.token_file", token_file), True
    return _generated(data_dir / TOKEN_FILE), False


def _generated(path: Path) -> str:
    """The token in ``path``, created (mode 0600) at first start."""
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    return token
