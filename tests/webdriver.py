"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) under selenium,
and a real ``adoptwatch web`` process, for the explorer's tests and its screenshots.

``make test`` and ``.ci/run`` install the two Debian packages where they are missing
(``make browser``); where they cannot be installed the browser tests are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
ADOPTWATCH = Path(sys.executable).with_name("adoptwatch")
_LISTENING = re.compile(r"is at (http://\S+/)")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for path in paths:
        if Path(path).is_file():
            return path
    return shutil.which(name)


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make install)"
    if _first(CHROMIUM, "chromium") is None:
        return "Debian's chromium is not installed (make browser installs it as root)"
    if _first(CHROMEDRIVER, "chromedriver") is None:
        return "Debian's chromium-driver is not installed (make browser installs it as root)"
    return None


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium driven by selenium, recording the page's console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # The driver's path is given: selenium must never look for one on the network.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM, "chromium") or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_first(CHROMEDRIVER, "chromedriver") or "")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The console's errors (and CSP violations) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@contextlib.contextmanager
def explorer(db: Path | str, *args: str, timeout: float = 90.0) -> Iterator[str]:
    """``adoptwatch web --db DB --port 0`` as a process of its own; yields the site's URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    process = subprocess.Popen(
        [str(ADOPTWATCH), "web", "--db", str(db), "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + timeout
        url = None
        seen = []
        while url is None:
            line = process.stderr.readline()
            if not line:
                raise RuntimeError(f"adoptwatch web exited: {''.join(seen)}")
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                url = match.group(1)
            elif time.monotonic() > deadline:
                raise RuntimeError(f"adoptwatch web did not start: {''.join(seen)}")
        # Keep reading, so that a chatty server never blocks on a full pipe.
        threading.Thread(target=seen.extend, args=(process.stderr,), daemon=True).start()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
