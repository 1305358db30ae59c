"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) under Selenium,
for the tests that look at the dashboard as a person would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.servers import binary


def chromium(profile: Path, size: str = "1400,900") -> webdriver.Chrome:
    """A headless Chromium with its own profile directory and window ``size``
    ("WIDTH,HEIGHT"); the caller quits it (or use ``headless``)."""
    options = webdriver.ChromeOptions()
    options.binary_location = binary("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", f"--window-size={size}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(binary("chromedriver")))


@contextmanager
def headless(profile: Path, size: str = "1400,900") -> Iterator[webdriver.Chrome]:
    """``chromium``, quit at the end whatever happened."""
    driver = chromium(profile, size)
    try:
        yield driver
    finally:
        driver.quit()
