"""The report in a real browser: headless Chromium loads it without a console error, fetches nothing, runs no
script, fits a phone's width and prints.

Needs the Debian packages `chromium` and `chromium-driver` and the Python package `selenium`; without
them these tests fail (they do not skip) and say what to install. Nothing here touches the network:
Selenium is given the driver's path, so it never looks for one to download, and Chromium resolves no
host names.

Set REPORT_SCREENSHOTS to a folder (e.g. `docs`) to keep the full-page screenshots taken here as
report-solution.png and report-faulty.png in it.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import pytest

from conftest import SOLUTION
from grader.views import report
from test_report import faulty_results, hostile_results

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "install them as root with `apt-get install -y chromium chromium-driver`"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars")
WIDTH = 1000


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium, driven by the system's chromedriver, with a fresh profile."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the browser tests need headless Chromium; {INSTALL}.")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: the browser tests drive Chromium with it; "
                    "pip install 'selenium>=4.20,<5' (it is in the project's [test] extra).")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def dataset(digits):
    from grader.assignment.data import load_dataset

    return load_dataset(None, digits.data)


def _open(browser, html: str, path: Path, width: int = WIDTH, height: int = 900) -> dict:
    """Load `html` from a file and report what the browser saw."""
    path.write_text(html, encoding="utf-8")
    browser.set_window_size(width, height)
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(path.as_uri())
    seen = browser.execute_script("""
        return {
          title: document.title,
          scripts: document.scripts.length,
          images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0),
          resources: performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:')),
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
          text: document.body.innerText,
        };""")
    seen["log"] = browser.get_log("browser")
    browser.execute_script("console.error('probe: the console is being read')")
    probe = browser.get_log("browser")
    assert any("probe: the console is being read" in entry["message"] for entry in probe), probe
    return seen


def _assert_clean(seen: dict) -> None:
    errors = [entry for entry in seen["log"] if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == [], errors
    assert seen["scripts"] == 0
    assert seen["resources"] == []  # nothing fetched: every picture is a data: URI
    assert seen["images"] and all(seen["images"]), seen["images"]
    assert seen["scrollWidth"] <= seen["innerWidth"]


def _screenshot(browser, target: Path) -> bytes:
    """A full-page PNG, kept in REPORT_SCREENSHOTS too when that is set."""
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    png = base64.b64decode(shot["data"])
    target.write_bytes(png)
    keep = os.environ.get("REPORT_SCREENSHOTS")
    if keep:
        from PIL import Image

        Path(keep).mkdir(parents=True, exist_ok=True)
        # A 256-colour palette keeps the page's colours and text sharp at a third of the size.
        palette = Image.open(target).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        palette.save(Path(keep) / target.name, optimize=True)
    return png


def _header_colour(png: bytes) -> tuple[int, int, int]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width == WIDTH and image.height > 2000
    return image.getpixel((WIDTH // 2, 8))


@pytest.mark.slow
def test_the_solution_report_loads_cleanly(browser, graded, dataset, tmp_path: Path) -> None:
    results = graded(SOLUTION)
    seen = _open(browser, report.render(results, dataset.test_images), tmp_path / "report.html")
    _assert_clean(seen)
    assert seen["title"].endswith(f"{results['score']:g}/{results['extra_data']['max_score']:g}")
    assert len(seen["images"]) >= 24
    assert "Nothing: every check passed." in seen["text"]
    png = _screenshot(browser, tmp_path / "report-solution.png")
    assert _header_colour(png) == (0xE7, 0xF5, 0xEC)  # the green of a passed submission


def test_a_faulty_report_loads_cleanly(browser, dataset, tmp_path: Path) -> None:
    seen = _open(browser, report.render(faulty_results(dataset.test_labels), dataset.test_images), tmp_path / "r.html")
    _assert_clean(seen)
    assert "What to fix" in seen["text"] and "How to fix: Divide the pixels by 255" in seen["text"]
    png = _screenshot(browser, tmp_path / "report-faulty.png")
    assert _header_colour(png) == (0xFD, 0xEC, 0xEC)  # the red of a submission that did not pass


def test_hostile_text_is_shown_as_text_and_never_runs(browser, dataset, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    seen = _open(browser, report.render(hostile_results(dataset.test_labels), dataset.test_images), tmp_path / "h.html")
    _assert_clean(seen)
    assert "<script>alert(1)</script>" in seen["text"]
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text


def test_the_report_fits_a_phone(browser, dataset, tmp_path: Path) -> None:
    seen = _open(browser, report.render(faulty_results(dataset.test_labels), dataset.test_images), tmp_path / "p.html",
                 width=390, height=844)
    _assert_clean(seen)  # includes: no sideways scrolling of the page itself
    assert seen["innerWidth"] <= 390


def test_the_report_prints(browser, dataset, tmp_path: Path) -> None:
    _open(browser, report.render(faulty_results(dataset.test_labels)), tmp_path / "print.html")
    pdf = base64.b64decode(browser.print_page())
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) >= 3  # the whole report, not a clipped first screen
