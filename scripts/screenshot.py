"""Saves a screenshot of the dashboard page (the README's picture), in headless Chromium.

Usage: .venv/bin/python scripts/screenshot.py http://127.0.0.1:8000/ docs/dashboard.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.browser import chromium


def main(url: str, output: str, language: str = "en-US") -> None:
    with chromium(language=language) as driver:
        driver.get(url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = driver.execute_script(
                "return [...document.querySelectorAll('.asof')]"
                ".filter(e => !e.textContent || e.classList.contains('warming')).length"
            )
            if not pending:
                break
            time.sleep(1)
        time.sleep(1)
        driver.save_screenshot(output)


if __name__ == "__main__":
    main(*sys.argv[1:])
