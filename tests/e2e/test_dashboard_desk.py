"""The dashboard as a trading desk in a real headless Chromium (issue 28): with the
operator token, pressing pause (and confirming) stops bars reaching that plugin while
the others go on; paused plugins sort first and are counted in the page title; the
page is usable at 420 px. ``ZEPIX_UPDATE_SCREENSHOTS=1`` writes docs/images/desk-*.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from tests.chromium import headless
from tests.distfactory import DistFactory, good_plugin
from tests.livehost import BUNDLED, Live, live_host, wait_until
from tests.paths import ROOT

pytestmark = pytest.mark.slow

DOCS = ROOT / "docs" / "images"
OFF = "".join(f"[plugins.{pid}]\nenabled = false\n" for pid in BUNDLED)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with headless(tmp_path / "chromium-profile", "1400,700") as driver:
        yield driver


def bars(live: Live, pid: str) -> int:
    runner: Any = live.host.slots[pid].runner
    [plugin] = [p for p in runner.pm.get_plugins() if hasattr(p, "bars")]
    return int(plugin.bars)


def order(driver: webdriver.Chrome) -> list[tuple[str, str]]:
    """(plugin, paused) of the rows top to bottom, the disabled bundled plugins left out."""
    found: list[list[str]] = driver.execute_script(
        "return [...document.querySelectorAll('#plugins tbody tr')].map(tr => "
        "[tr.dataset.plugin, tr.dataset.paused]);")
    return [(pid, paused) for pid, paused in found if pid not in BUNDLED]


def press(driver: webdriver.Chrome, pid: str, action: str) -> Any:
    """Click a row's button in one script (the table is redrawn every poll, so a found
    element may be gone by the time it is clicked); the confirmation dialog it opens."""
    assert driver.execute_script(
        "const b = document.querySelector(arguments[0]);"
        "if (b) setTimeout(() => b.click(), 0); return !!b;",
        f"tr[data-plugin='{pid}'] button[data-action='{action}']")

    def dialog() -> Any:
        try:
            return driver.switch_to.alert
        except NoAlertPresentException:
            return None
    return wait_until(dialog, timeout=10)


def shoot(driver: webdriver.Chrome, home: Path, name: str) -> None:
    shot = home / f"{name}.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
    if os.environ.get("ZEPIX_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / f"{name}.png").write_bytes(shot.read_bytes())


def test_pressing_pause_stops_bars_reaching_that_plugin(
        zepix_home: Path, dists: DistFactory, browser: webdriver.Chrome) -> None:
    config = f"[host]\nwarmup_bars = 2\nbars_per_round = 2\n{OFF}"
    plugins = {"alpha": good_plugin(), "beta": good_plugin()}
    with live_host(zepix_home, dists, config, interval=0.5, plugins=plugins) as live:
        browser.get(f"{live.url}/?every=0.5&hours=1#token={live.token}")
        wait_until(lambda: order(browser) == [("alpha", "0"), ("beta", "0")], timeout=60)
        assert browser.title == "Zepix"
        wait_until(lambda: browser.execute_script(  # uptime_seconds of its snapshot
            "return document.querySelector(\"tr[data-plugin='alpha'] td.uptime\")"
            ".textContent").endswith("s"), timeout=30)
        shoot(browser, zepix_home, "desk-running")
        dialog = press(browser, "beta", "pause")
        assert dialog.text == "Pause beta?"
        dialog.accept()
        wait_until(lambda: "beta" in live.host.pauses, timeout=30)
        # Paused first, counted in the title; its bars stop, alpha's go on.
        wait_until(lambda: order(browser) == [("beta", "1"), ("alpha", "0")], timeout=30)
        wait_until(lambda: "paused: beta" in browser.find_element(By.ID, "host").text,
                   timeout=30)  # the host panel (GET /api/v1/status)
        panel = browser.find_element(By.ID, "host").text
        assert "zepix-core " in panel and " · up " in panel and "last round" in panel
        assert browser.title == "(1) Zepix"
        frozen, alpha = bars(live, "beta"), bars(live, "alpha")
        wait_until(lambda: bars(live, "alpha") >= alpha + 10, timeout=60)
        assert bars(live, "beta") == frozen
        assert "paused" in browser.execute_script(
            "return document.querySelector(\"tr[data-plugin='beta'] td.trading\").textContent")
        shoot(browser, zepix_home, "desk-paused")
        event = next(e for e in live.host.store.events("beta") if e["kind"] == "pause")
        assert event["actor"] == "api"

        browser.set_window_size(420, 800)  # a phone: no page-wide horizontal scrolling
        wait_until(lambda: browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"), timeout=10)
        shoot(browser, zepix_home, "desk-phone")
        browser.set_window_size(1400, 700)

        press(browser, "beta", "resume").dismiss()  # cancelled: nothing changes
        assert "beta" in live.host.pauses
        press(browser, "beta", "resume").accept()
        wait_until(lambda: "beta" not in live.host.pauses, timeout=30)
        wait_until(lambda: bars(live, "beta") > frozen, timeout=60)


def test_without_a_token_the_page_offers_no_controls(
        zepix_home: Path, dists: DistFactory, browser: webdriver.Chrome) -> None:
    config = f"[host]\nwarmup_bars = 2\nbars_per_round = 2\n{OFF}"
    with live_host(zepix_home, dists, config, interval=0.5,
                   plugins={"alpha": good_plugin()}) as live:
        browser.get(f"{live.url}/?every=0.5")
        wait_until(lambda: order(browser) == [("alpha", "0")], timeout=60)
        assert browser.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
