"""Headless Chromium for the report's browser test: the page as a reader's browser builds it (its script run),
and a screenshot. Debian's `chromium` (installed by .ci/run where missing); tests skip with the reason without it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

# the flags a closed network needs: without the background ones Chromium keeps dialling Google's hosts
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")


def _run(page: Path, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def rendered_dom(page: Path) -> str:
    """The DOM after the page's script ran (its load handler included)."""
    return _run(page, "--dump-dom")


def screenshot(page: Path, png: Path, size: str = "1400,1800") -> Path:
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={size}")
    return png


class _Page(HTMLParser):
    """What a reader sees, from the DOM: the body's data attributes, the images' sources, and every table as
    (the id of the heading above it, its header cells, its body rows of cell texts)."""

    def __init__(self):
        super().__init__()
        self.body: dict[str, str] = {}
        self.images: list[str] = []
        self.tables: list[tuple[str, list[str], list[list[str]]]] = []
        self._heading, self._cell, self._row = "", None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading = a.get("id", "")
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "table":
            self.tables.append((self._heading, [], []))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            _, header, rows = self.tables[-1]
            if header:
                rows.append(self._row)
            else:  # the first row is the header
                header.extend(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_page(dom: str) -> _Page:
    page = _Page()
    page.feed(dom)
    return page
