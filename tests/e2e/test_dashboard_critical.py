"""The dashboard shows each plugin's ``critical_errors`` (errors of its trading work)
as the health views and /metrics do: in a real headless Chromium, the row's figure
equals the plugin's own count of the on_bar calls it failed, and the API's figure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from tests.chromium import headless
from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED, live_host, wait_until

pytestmark = pytest.mark.slow

OFF = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)
#: The bars whose on_bar raises: three failures, then none (the figure settles).
FAILING = (3, 6, 9)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with headless(tmp_path / "chromium-profile", "1600,700") as driver:
        yield driver


def stumbler(log: Path) -> str:
    """The good plugin, but on_bar raises on the bars in FAILING, each failure logged."""
    source = good_plugin()
    edited = source.replace('''    def on_bar(self, bar):
        self.bars += 1
''', f'''    def on_bar(self, bar):
        self.bars += 1
        if self.bars in {FAILING!r}:
            with open({str(log)!r}, "a") as out:
                out.write("on_bar\\n")
            raise RuntimeError("bar " + str(self.bars))
''')
    assert edited != source
    return edited


def test_the_row_shows_the_critical_errors_the_api_counts(
        zepix_home: Path, dists: DistFactory, browser: webdriver.Chrome) -> None:
    log = zepix_home / "failures.log"
    config = f"[host]\nwarmup_bars = 0\nbars_per_round = 2\n{OFF}"
    plugins = {"stumbler": stumbler(log), "steady": good_plugin()}
    with live_host(zepix_home, dists, config, interval=0.5, plugins=plugins) as live, \
            live.client() as http:
        browser.get(f"{live.url}/?every=0.5&hours=1#token={live.token}")

        def shown(pid: str) -> str | None:
            text: str | None = browser.execute_script(
                "const c = document.querySelector(arguments[0]);"
                "return c ? c.textContent : null;", f"tr[data-plugin='{pid}'] td.critical")
            return text

        def api(pid: str) -> object:
            return http.get(f"/api/v1/health/{pid}").json().get("critical_errors")

        wait_until(lambda: log.exists() and len(log.read_text().splitlines()) == len(FAILING)
                   and api("stumbler") == len(FAILING), timeout=120)
        wait_until(lambda: shown("stumbler") == str(len(FAILING)), timeout=60)
        assert "bad" in browser.execute_script(
            "return document.querySelector(\"tr[data-plugin='stumbler'] td.critical\")"
            ".className;")
        wait_until(lambda: shown("steady") == "0" and api("steady") == 0, timeout=60)
        header = browser.execute_script(
            "return [...document.querySelectorAll('#plugins thead th')]"
            ".map(th => th.textContent);")
        assert "critical" in header
