"""``zepix install`` retries when pip reaches an index (operation ``store.install``):
a real pip against a loopback package index that is down at first."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import plugin_versions as pv
from zepix_core.cli.main import main
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.paths import store_dir
from zepix_core.retry import Category, Retrier
from zepix_core.storage import Store
from zepix_core.testing import FakeClock
from zepix_core.versions.store import PluginStore


class Index:
    """A PEP 503 index serving one wheel; the first ``down`` requests get ``status``."""

    def __init__(self, wheel: Path, down: int, status: int = 503) -> None:
        self.wheel, self.down, self.status = wheel, down, status
        self.hits: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                if len(owner.hits) <= owner.down:
                    return self._send(owner.status, b"", "text/plain")
                if self.path.startswith("/files/"):
                    return self._send(200, owner.wheel.read_bytes(), "application/zip")
                name, digest = owner.wheel.name, hashlib.sha256(owner.wheel.read_bytes())
                page = f'<a href="/files/{name}#sha256={digest.hexdigest()}">{name}</a>'
                return self._send(200, page.encode(), "text/html")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[Index] = []
    wheel = pv.handmade_wheel(tmp_path, "zx-beta", "1.0.0")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")

    def start(down: int, status: int = 503) -> Index:
        started.append(Index(wheel, down, status))
        monkeypatch.setenv("PIP_INDEX_URL", started[-1].url)
        return started[-1]

    yield start
    for idx in started:
        idx.httpd.shutdown()
        idx.httpd.server_close()


@pytest.mark.slow
def test_install_retries_an_index_that_answers_503_then_serves(index: Any) -> None:
    idx = index(down=1)
    clock = FakeClock()
    retrier = Retrier(sleep=clock.sleep)
    stored = PluginStore(store_dir(), retrier=retrier).install("zx-beta==1.0.0")
    assert (stored.distribution, stored.version, stored.plugin_ids) == (
        "zx-beta", "1.0.0", ["zx_beta"])
    outcome = retrier.stats.outcomes[-1]
    assert (outcome.operation, outcome.result, outcome.attempts) == ("store.install",
                                                                     "retried", 2)
    assert [f.category for f in outcome.failures] == [Category.TRANSIENT]
    assert idx.hits[0] == "/simple/zx-beta/"


@pytest.mark.slow
def test_a_missing_version_is_not_retried(index: Any) -> None:
    idx = index(down=0)
    retrier = Retrier(sleep=FakeClock().sleep)
    with pytest.raises(ZepixError, match="No matching distribution found for zx-beta==9.9"):
        PluginStore(store_dir(), retrier=retrier).install("zx-beta==9.9")
    assert retrier.stats.outcomes[-1].result == "permanent"
    assert len(idx.hits) == 1


@pytest.mark.slow
def test_zepix_install_counts_its_retries_in_zepix_retries(
        index: Any, tmp_path: Path, zepix_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    index(down=2)
    cfg = tmp_path / "zepix.toml"
    cfg.write_text('[retry."store.install"]\nbase = 0.01\nmax_delay = 0.05\n')
    assert main(["install", "zx-beta==1.0.0", "--config", str(cfg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1.0.0"
    [row] = [r for r in Store(zepix_home / "zepix.db").retry_stats()
             if r["operation"] == "store.install"]
    assert (row["attempts"], row["retry_successes"]) == (3, 1)
    assert row["by_category"]["transient"]["failures"] == 2
