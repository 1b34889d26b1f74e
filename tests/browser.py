"""A real headless Chromium (Debian's ``chromium``, driven by its ``chromium-driver``) for the
portal's end-to-end tests: no browser is downloaded, nothing leaves the machine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

if TYPE_CHECKING:
    from collections.abc import Callable

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SEC = 30.0
SCREEN = (1100, 900)
PHONE = (390, 844)

# Chromium reaches for Google's services at start (updates, sync, field trials): on a closed
# network each attempt fails, many at a time; these flags keep it to the pages it is given.
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Nothing but loopback resolves: a page that sends the browser elsewhere (a share to
    # Bluesky's composer) is seen leaving, and never reaches the internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)


class Browser:
    """One Chromium window: open pages, read them, press things, take screenshots."""

    def __init__(self, profile: Path, downloads: Path, language: str = "en") -> None:
        for needed in (CHROMIUM, CHROMEDRIVER):
            if not needed.exists():
                raise RuntimeError(
                    f"{needed} is missing: bash scripts/system-packages.sh installs Debian's "
                    "chromium and chromium-driver"
                )
        options = Options()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--lang={language}"):
            options.add_argument(flag)
        options.add_experimental_option(
            "prefs",
            {
                "intl.accept_languages": language,
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
            },
        )
        self.downloads = downloads
        self.driver = webdriver.Chrome(
            options=options, service=Service(executable_path=str(CHROMEDRIVER))
        )
        self.driver.set_window_size(*SCREEN)

    def open(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def text(self, css: str = "main") -> str:
        """What a person reads in the first element matching ``css``."""
        return " ".join(str(self.driver.find_element(By.CSS_SELECTOR, css).text).split())

    def press(self, css: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def choose_file(self, css: str, path: Path) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).send_keys(str(path))

    def run(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def until(self, condition: Callable[[], Any], what: str) -> Any:
        """Wait for ``condition`` to hold (the page to move on, a text to show up)."""
        deadline = time.monotonic() + WAIT_SEC
        while True:
            try:
                found = condition()
            except WebDriverException:  # a page between two states: look again
                found = None
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not in {WAIT_SEC:g} s: {what}; at {self.url}: {self.text()}")
            time.sleep(0.1)

    def downloaded(self, name: str) -> Path:
        """The file the page downloaded, once complete."""
        path = self.downloads / name
        self.until(path.exists, f"the download of {name}")
        return path

    def screenshot(self, path: Path, size: tuple[int, int] = SCREEN) -> None:
        """The page as a person sees it at ``size``, down to its end."""
        width, _ = size
        self.driver.set_window_size(*size)
        height = self.run("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, max(size[1], min(int(height) + 120, 3000)))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*SCREEN)

    def close(self) -> None:
        self.driver.quit()
