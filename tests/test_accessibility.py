"""Accessibility: report.html, index.html and notebook_check()'s table meet WCAG 2.1 AA as axe-core finds it, every
figure has a text alternative that carries its numbers, pass and fail are said in words, and the keyboard reaches
everything.

axe-core runs, at the version pinned by tests/axe/package-lock.json (`npm ci --prefix tests/axe`, which .ci/run
does), in the headless Chromium of tests/test_browser.py. The pages forbid scripts (their Content-Security-Policy),
but Selenium's execute_script runs through the DevTools protocol, which the policy does not govern: axe is injected
that way, and the page itself still runs nothing. Without Chromium, its driver, selenium or axe-core these tests fail
(they do not skip) and say what to install.
"""

from __future__ import annotations

import csv
import html.parser
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SOLUTION, top_level_results
from grader.grading import selfcheck
from grader.platforms import jupyter
from grader.views import figures, gradebook, report
from test_browser import browser  # noqa: F401 (a fixture: one headless Chromium for the module)
from test_report import faulty_results, hostile_results, missing_results, not_implemented_results

AXE_FOLDER = ROOT / "tests" / "axe"
AXE_JS = AXE_FOLDER / "node_modules" / "axe-core" / "axe.min.js"
AXE_INSTALL = "install it with `npm ci --prefix tests/axe` (what .ci/run does; npm from Debian's `npm` package)"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DESKTOP, PHONE = 1000, 390


# --- Pages ------------------------------------------------------------------------------------------------------

def grader_fault_results() -> dict:
    """A submission whose checks faulted: not implemented, blocked, and a check the grader itself failed on."""
    results = not_implemented_results()
    results["extra_data"]["grader_faults"] = ["accuracy"]
    results["tests"][4]["extra_data"]["fault"] = "grader"
    return results


def crash_results(labels: np.ndarray) -> dict:
    """The faulty submission with fashion's class names, a crash and a time limit among its faults."""
    results = faulty_results(labels)
    results["extra_data"]["class_names"] = FASHION
    results["tests"][1]["extra_data"].update(fault="crash")
    results["tests"][3].update(status="failed", score=0.0)
    results["score"] -= results["tests"][3]["max_score"]
    results["tests"][3]["extra_data"].update(fault="timeout", feedback="compile_model() ran past its time limit.")
    return results


@pytest.fixture(scope="module")
def dataset(digits):
    from grader.assignment.data import load_dataset

    return load_dataset(None, digits.data)


@pytest.fixture(scope="module")
def reports(dataset) -> dict[str, dict]:
    """Results of each kind of report but a passing one: failing and faulting ones, and odd ones."""
    labels = dataset.test_labels
    return {
        "failing": faulty_results(labels),
        "faulting": grader_fault_results(),
        "crashing": crash_results(labels),
        "top-level": top_level_results(),
        "missing": missing_results(),
        "hostile": hostile_results(labels),
    }


@pytest.fixture(scope="module")
def passing(graded) -> dict:
    """The reference solution, really graded (once per test session, at the small budget)."""
    return graded(SOLUTION)


@pytest.fixture(scope="module")
def every_report(reports, passing) -> dict[str, dict]:
    return {"passing": passing, **reports}


@pytest.fixture(scope="module")
def class_page(every_report, tmp_path_factory) -> Path:
    """index.html of a small class: each kind of report, a hand-in with nothing to grade, the roster's names."""
    out = tmp_path_factory.mktemp("class")
    members = {}
    for name, kind in (("ada", "passing"), ("ben", "failing"), ("cy", "faulting"), ("dee", "crashing"),
                       ("<b>eve</b>", "hostile")):
        results = json.loads(json.dumps(every_report[kind]))
        results["extra_data"].update(submission=name, assignment="digits", max_score=10.0)
        members[name] = results
    nothing = missing_results()
    nothing["extra_data"].update(submission="fay", assignment="digits", status="missing", max_score=10.0)
    members["fay"] = nothing
    students = {name: f"Student {name}" for name in members}
    return gradebook.write(members, out, students=students, skipped=["stray-folder"])["index"]


def notebook_page(results: dict, task, *, unwritten: tuple[str, ...] = ()) -> str:
    """notebook_check()'s HTML for `results`, in the smallest page a notebook's output sits in."""
    fragment = jupyter.render(results, task, selfcheck.quick(task), unwritten=unwritten)
    return (f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>notebook_check()</title></head>\n'
            f"<body><main>\n{fragment}\n</main></body>\n</html>\n")


def notebook(kind: str, reports: dict, task) -> str:
    """The notebook's page for one kind of results: a failing one has a hidden check, a faulting one a function not
    written yet, and every check printed something."""
    results = json.loads(json.dumps(reports[kind]))
    for test in results["tests"]:
        test["extra_data"]["printed"] = {"text": "epoch 1 <b>done</b>\n" * 3, "chars": 60}
    if kind == "failing":
        results["tests"][-1]["visibility"] = "hidden"
    unwritten = ()
    if kind == "faulting":
        results["tests"] = [t for t in results["tests"] if t["name"] != "predict"]
        unwritten = ("predict",)
    return notebook_page(results, task, unwritten=unwritten)


# --- axe-core ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def axe() -> str:
    """axe.min.js at the pinned version."""
    lock = json.loads((AXE_FOLDER / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} not found: the accessibility tests run axe-core {pinned}; {AXE_INSTALL}.")
    source = AXE_JS.read_text(encoding="utf-8")
    found = re.match(r"/\*! axe v(\S+)", source)
    if not found or found.group(1) != pinned:
        pytest.fail(f"{AXE_JS} is axe-core {found.group(1) if found else '(unknown)'}, not the pinned {pinned}; "
                    f"{AXE_INSTALL}.")
    assert pinned.startswith("4.")
    return source


def _load(browser, page: str | Path, tmp_path: Path, width: int = DESKTOP) -> None:  # noqa: F811
    path = page if isinstance(page, Path) else tmp_path / "page.html"
    if not isinstance(page, Path):
        path.write_text(page, encoding="utf-8")
    browser.set_window_size(width, 900)
    browser.get(path.as_uri())


def _axe(browser, axe: str) -> list[dict]:  # noqa: F811
    """Run axe-core with WCAG 2.0 and 2.1 level A and AA rules on the loaded page; its violations."""
    browser.execute_script(axe)
    assert browser.execute_script("return document.scripts.length") == 0  # injected, never part of the page
    outcome = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        "  .then(r => done({version: axe.version, violations: r.violations, passes: r.passes.length}),"
        "        e => done({error: String(e)}));", WCAG_AA)
    assert "error" not in outcome, outcome
    assert outcome["version"] == json.loads((AXE_FOLDER / "package.json").read_text())["dependencies"]["axe-core"]
    assert outcome["passes"] > 5  # it did check the page
    return outcome["violations"]


def _described(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:10]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {' '.join(node['failureSummary'].split())[:300]}")
    return "\n".join(lines)


def _assert_no_violation(browser, axe: str) -> None:  # noqa: F811
    violations = _axe(browser, axe)
    assert violations == [], f"axe-core found {len(violations)} WCAG 2.1 AA violation(s):\n{_described(violations)}"


@pytest.mark.slow
def test_a_passing_report_meets_wcag_21_aa(browser, axe, passing, dataset, tmp_path) -> None:  # noqa: F811
    _load(browser, report.render(passing, dataset.test_images), tmp_path)
    _assert_no_violation(browser, axe)


@pytest.mark.parametrize("kind", ["failing", "faulting", "crashing", "top-level", "missing", "hostile"])
def test_the_report_meets_wcag_21_aa(browser, axe, reports, dataset, kind, tmp_path) -> None:  # noqa: F811
    _load(browser, report.render(reports[kind], dataset.test_images), tmp_path)
    _assert_no_violation(browser, axe)


def test_the_report_meets_wcag_21_aa_on_a_phone_and_without_pictures(browser, axe, reports, tmp_path) -> None:  # noqa: F811
    _load(browser, report.render(reports["crashing"]), tmp_path, width=PHONE)
    _assert_no_violation(browser, axe)


@pytest.mark.slow
def test_the_class_page_meets_wcag_21_aa(browser, axe, class_page, tmp_path) -> None:  # noqa: F811
    for width in (DESKTOP, PHONE):
        _load(browser, class_page, tmp_path, width=width)
        _assert_no_violation(browser, axe)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["passing", "failing", "faulting", "hostile"])
def test_the_notebook_table_meets_wcag_21_aa(browser, axe, every_report, digits, kind, tmp_path) -> None:  # noqa: F811
    _load(browser, notebook(kind, every_report, digits), tmp_path)
    _assert_no_violation(browser, axe)


def test_axe_finds_what_the_pages_avoid(browser, axe, tmp_path) -> None:  # noqa: F811
    """The check can fail: the faults these pages once had are found."""
    page = ('<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
            '<p style="color: #fff; background: #6fab8d">12</p>'
            '<div style="max-height: 3rem; overflow: auto"><pre>' + "line\n" * 40 + "</pre></div></main></body></html>")
    _load(browser, page, tmp_path)
    assert {v["id"] for v in _axe(browser, axe)} == {"color-contrast", "scrollable-region-focusable"}


# --- Text alternatives -----------------------------------------------------------------------------------------

class _Page(html.parser.HTMLParser):
    """The tables of a page (caption, rows of cells with their tag and scope) and the alt text of its images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.alts: list[str] = []
        self.open: list[dict] = []
        self.cell: dict | None = None
        self.caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.alts.append(attrs.get("alt"))
        elif tag == "table":
            self.open.append({"caption": "", "rows": [], "cells": []})
        elif tag == "caption":
            self.caption = []
        elif tag == "tr" and self.open:
            self.open[-1]["rows"].append([])
        elif tag in ("td", "th") and self.open:
            self.cell = {"tag": tag, "scope": attrs.get("scope"), "text": []}

    def handle_endtag(self, tag):
        if tag == "table" and self.open:
            self.tables.append(self.open.pop())
        elif tag == "caption" and self.caption is not None:
            self.open[-1]["caption"] = " ".join("".join(self.caption).split())
            self.caption = None
        elif tag in ("td", "th") and self.cell is not None:
            self.cell["text"] = " ".join("".join(self.cell["text"]).split())
            self.open[-1]["rows"][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.caption is not None:
            self.caption.append(data)
        if self.cell is not None:
            self.cell["text"].append(data)

    def table(self, caption: str) -> list[list[dict]]:
        found = [t for t in self.tables if t["caption"].startswith(caption)]
        assert len(found) == 1, (caption, [t["caption"] for t in self.tables])
        return found[0]["rows"]


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def _texts(row: list[dict]) -> list[str]:
    return [cell["text"] for cell in row]


def _assert_headed(rows: list[list[dict]], *, row_headers: bool) -> None:
    """The first row is column headers with scope="col" (but for the corner, above the row headers); with
    `row_headers`, each other row starts with a scope="row" header."""
    assert all(c["tag"] == "th" and c["scope"] == "col" for c in rows[0][1 if row_headers else 0:]), rows[0]
    for row in rows[1:]:
        assert (row[0]["tag"], row[0]["scope"]) == (("th", "row") if row_headers else ("td", None)), row


def test_the_confusion_matrix_is_a_table_of_the_counts_with_named_headers(dataset) -> None:
    results = crash_results(dataset.test_labels)
    confusion = results["extra_data"]["predictions"]["confusion"]
    rows = _parse(report.render(results)).table("Confusion matrix: true class by row, the model's answer by column")
    _assert_headed(rows, row_headers=True)
    assert _texts(rows[0]) == ["true ↓ / answer →", *FASHION, "images", "right"]
    for name, counts, row in zip(FASHION, confusion, rows[1:], strict=True):
        assert _texts(row)[: 1 + len(FASHION)] == [name, *map(str, counts)]
        assert int(row[-2]["text"]) == sum(counts)


def test_the_confusion_matrix_cells_read_at_4_5_to_1_whatever_their_shade(dataset) -> None:
    page = report.render(faulty_results(dataset.test_labels))
    styled = re.findall(r'style="background-color: (#[0-9a-f]{6}); color: (#[0-9a-f]{6})"', page)
    assert len(styled) >= 10
    shades = [report._cell_colours(shade, diagonal) for shade in np.linspace(0, 1, 101) for diagonal in (True, False)]
    for background, ink in styled + shades:
        assert report.contrast(background, ink) >= 4.5, (background, ink)
    assert round(report.contrast("#ffffff", "#000000"), 2) == 21 and report.contrast("#777777", "#777777") == 1


def test_each_prediction_says_its_image_true_class_answer_and_verdict_in_words(dataset) -> None:
    results = crash_results(dataset.test_labels)
    predictions = results["extra_data"]["predictions"]
    page = report.render(results, dataset.test_images)
    parsed = _parse(page)
    for caption, shown in (("The first 24 test images", predictions["samples"]),
                           ("The most confidently wrong answers", predictions["confident_mistakes"])):
        rows = parsed.table(caption)
        _assert_headed(rows, row_headers=True)
        assert _texts(rows[0]) == ["Test image", "True class", "Model's answer", "Verdict", "Confidence"]
        assert [_texts(row) for row in rows[1:]] == [
            [f"#{p['index']}", FASHION[p["label"]], FASHION[p["predicted"]],
             "✓ right" if p["predicted"] == p["label"] else "✗ wrong", f"{100 * p['confidence']:.0f}%"] for p in shown]
    samples = predictions["samples"] + predictions["confident_mistakes"]
    alts = [alt for alt in parsed.alts if alt.startswith("Test image #")]
    assert alts == [f"Test image #{p['index']}, true class {FASHION[p['label']]}" for p in samples]
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page.split('id="predictions"')[1], re.S)
    for p, caption in zip(samples, captions, strict=True):
        text = " ".join(re.sub(r"<[^>]+>", " ", caption).split()).replace("&#39;", "'").replace(" ,", ",")
        verdict = "✓ right" if p["predicted"] == p["label"] else f"✗ wrong, true {FASHION[p['label']]}"
        assert f"the model answered {FASHION[p['predicted']]} {verdict}" in text, text


def test_the_training_curve_is_described_with_its_numbers_and_tabled_per_epoch(dataset) -> None:
    results = faulty_results(dataset.test_labels)
    history = results["tests"][4]["extra_data"]["history"]
    parsed = _parse(report.render(results))
    [alt] = [alt for alt in parsed.alts if alt.startswith("Training curves per epoch")]
    for metric, values in history.items():
        assert f"{metric} (train) went from {values[0]:.4f} at epoch 1 to {values[-1]:.4f} at epoch 3" in alt
    assert "minimum accuracy, 0.8" in alt and "test accuracy, 0.6210" in alt
    rows = parsed.table("Training metrics per epoch")
    _assert_headed(rows, row_headers=True)
    assert _texts(rows[0]) == ["Epoch", "accuracy (train)", "loss (train)"]
    assert [_texts(row) for row in rows[1:]] == [
        [str(epoch + 1), f"{history['accuracy'][epoch]:.4f}", f"{history['loss'][epoch]:.4f}"] for epoch in range(3)]
    wiggly = report.describe_history({"loss": [1.0, 0.2, 0.5]})
    assert wiggly == "loss (train) went from 1.0000 at epoch 1 to 0.5000 at epoch 3, lowest 0.2000 at epoch 2."


@pytest.mark.slow
def test_the_class_pages_histogram_is_told_in_numbers(class_page) -> None:
    parsed = _parse(class_page.read_text())
    [alt] = [alt for alt in parsed.alts if alt.startswith("Histogram")]
    scores = [r["score"] for r in csv_rows(class_page.parent / "gradebook.csv") if r["score"] != ""]
    counts = {score: scores.count(score) for score in set(scores)}
    for score, count in counts.items():
        assert f"{count} scored {float(score):g}" in alt, alt
    rows = parsed.table("Submissions by score")
    _assert_headed(rows, row_headers=False)
    tabled = {row[0]["text"]: int(row[1]["text"]) for row in rows[1:]}
    assert tabled == {str(s): sum(round(float(x)) == s for x in scores) for s in range(11)}
    assert figures.score_bins([55.0, 60.0, 100.0], 100)[0] == (55.0, 57.25, 1)
    assert sum(n for _, _, n in figures.score_bins([55.0, 60.0, 100.0], 100)) == 3


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_every_table_has_column_headers_with_scope(every_report, dataset, class_page, digits) -> None:
    pages = [report.render(r, dataset.test_images) for r in every_report.values()] + [class_page.read_text()]
    pages += [notebook(kind, every_report, digits) for kind in ("passing", "failing", "faulting")]
    tables = 0
    for page in pages:
        parsed = _parse(page)
        tables += len(parsed.tables)
        for table in parsed.tables:
            headers = [c for row in table["rows"] for c in row if c["tag"] == "th"]
            assert headers and all(c["scope"] in ("col", "row") for c in headers), table["caption"]
            assert table["caption"], table["rows"][0]
        assert all(alt for alt in parsed.alts), "an image without a text alternative"
    assert tables >= 20


@pytest.mark.slow
def test_pass_and_fail_are_said_in_words(every_report, dataset, digits) -> None:
    passing = report.render(every_report["passing"], dataset.test_images)
    failing = report.render(every_report["failing"], dataset.test_images)
    assert '<span class="pill">Passed</span>' in passing and '<span class="pill">Not passed</span>' in failing
    assert failing.count("✗ Failed") == 4 and failing.count("✓ Passed") == 2
    assert "Test accuracy 0.6210</strong>; the minimum is 0.8: not reached." in failing
    assert re.search(r"Test accuracy [0-9.]+</strong>; the minimum is [0-9.]+: reached\.", passing)
    assert '<span class="vh">changed: layer</span>' in failing  # the ≠ mark of a changed layer, said
    page = notebook("failing", every_report, digits)
    assert re.findall(r'<td class="(?:passed|failed|hidden)">(\w+)</td>', page) == [
        "PASS", "FAIL", "FAIL", "PASS", "FAIL", "HIDDEN"]


# --- The keyboard -----------------------------------------------------------------------------------------------

FOCUSABLE = "a[href], summary, [tabindex]:not([tabindex='-1']), button, input, select, textarea"


def _tab_through(browser, width: int) -> tuple[list[dict], list[dict], bool]:  # noqa: F811
    """Open every details element, then press Tab from the top until focus leaves the page or comes round to the
    first element again; return what should be reachable (visible focusables and scrolling boxes), what Tab focused
    in order, and whether focus did leave the last one."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(width, 900)
    expected = browser.execute_script("""
        document.querySelectorAll('details').forEach(d => { d.open = true; });
        const all = Array.from(document.querySelectorAll('*'));
        const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
        const scrolls = el => { const s = getComputedStyle(el);
          return (['auto', 'scroll'].includes(s.overflowX) && el.scrollWidth > el.clientWidth + 1)
              || (['auto', 'scroll'].includes(s.overflowY) && el.scrollHeight > el.clientHeight + 1); };
        const label = el => (el.getAttribute('aria-label') || (el.getAttribute('aria-labelledby') || '').split(' ')
            .map(id => (document.getElementById(id) || {}).textContent || '').join(' ')).trim();
        return all.filter(el => shown(el) && (el.matches(arguments[0]) || scrolls(el))).map((el, i) => {
          el.dataset.probe = i;
          return {probe: String(i), tag: el.tagName, scrolls: scrolls(el), tabindex: el.tabIndex, label: label(el)};
        });""", FOCUSABLE)
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
    reached, left = [], False
    for _ in range(len(expected) + 3):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.execute_script("""
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const s = getComputedStyle(el);
            return {probe: el.dataset.probe || null, tag: el.tagName, outline: s.outlineStyle,
                    width: parseFloat(s.outlineWidth), visible: el.matches(':focus-visible')};""")
        if focused is None or (reached and focused["probe"] == reached[0]["probe"]):
            left = True
            break
        reached.append(focused)
    return expected, reached, left


@pytest.mark.parametrize("page, width", [("failing", PHONE), ("hostile", DESKTOP)])
def test_tab_reaches_every_scrolling_box_and_control_of_the_report_with_a_visible_focus(
        browser, reports, dataset, page, width, tmp_path) -> None:  # noqa: F811
    _load(browser, report.render(reports[page], dataset.test_images), tmp_path, width=width)
    _assert_keyboard_reaches_everything(browser, width)


@pytest.mark.slow
@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_tab_reaches_every_scrolling_box_and_link_of_the_class_page(browser, class_page, width, tmp_path) -> None:  # noqa: F811
    _load(browser, class_page, tmp_path, width=width)
    _assert_keyboard_reaches_everything(browser, width)


def _assert_keyboard_reaches_everything(browser, width: int) -> None:  # noqa: F811
    expected, reached, left = _tab_through(browser, width)
    scrolling = [e for e in expected if e["scrolls"]]
    assert scrolling, "no box scrolls: the test would prove nothing"
    for box in scrolling:
        assert box["tabindex"] == 0 and box["label"], box  # focusable, and named for a screen reader
    assert [r["probe"] for r in reached] == [e["probe"] for e in expected], (expected, reached)
    assert left  # focus left the last one: no trap
    for focused in reached:
        assert focused["visible"] and focused["outline"] == "solid" and focused["width"] >= 2, focused


def test_a_summary_opens_from_the_keyboard(browser, reports, dataset, tmp_path) -> None:  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _load(browser, report.render(reports["failing"], dataset.test_images), tmp_path)
    browser.execute_script("document.querySelector('#check-6 summary').focus()")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    assert browser.execute_script("return document.querySelector('#check-6 details').open") is True
    box = browser.execute_script("""const box = document.querySelector('#check-6 details .scrollbox');
        return {tabindex: box.tabIndex, role: box.getAttribute('role'), name: box.getAttribute('aria-label')}""")
    assert box == {"tabindex": 0, "role": "region", "name": "All details of predict"}
