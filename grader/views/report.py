"""The HTML report: a view of one results.json dict, rendered with Jinja2 (autoescaped), figures inlined.

`render` first turns the results dict into plain view data (`page`), then the template lays it out.
Nothing here runs or imports submitted code; everything the submission controls is escaped by the
template, never marked safe.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

import jinja2
import numpy as np

from grader.results import FAULT_KINDS, details_of, format_points
from grader.trusted import memo
from grader.views import figures
from grader import printed
from grader import timings as clock

OUTPUT_SHOWN = printed.KEEP  # characters of printed output shown on the page: what results.json keeps
DETAILS_SHOWN = 6_000  # characters of one check's details (traceback, sandbox output) shown on the page
SAMPLES_SHOWN = 24

_FRAME = re.compile(r'^(\s*)File "([^"]+)", line (\d+), in (.+)$')
_MARKS = {"same": "=", "changed": "≠", "missing": "−", "extra": "+"}


@functools.cache
def environment() -> jinja2.Environment:
    """A Jinja2 environment over the packaged templates, with autoescaping on (made once: it caches compiled templates)."""
    loader = jinja2.FileSystemLoader(str(importlib.resources.files("grader.templates")))
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    env.filters["points"] = format_points  # points as everywhere else: 10.125 -> 10.125, 10.0 -> 10
    return env


def template() -> jinja2.Template:
    """The report's template, compiled on the first call in a process (a tenth of a second)."""
    return environment().get_template("report.html.j2")


def render(results: dict[str, Any], images: np.ndarray | None = None) -> str:
    """The report page for one results.json dict; `images` are the test images (uint8, (N, 28, 28) or (N, 28, 28, 1)) that predictions' `index` refers to."""
    view = page(results, images)
    with clock.stage("report: HTML"):
        return template().render(view)


def page(results: dict[str, Any], images: np.ndarray | None = None) -> dict[str, Any]:
    """Everything the template shows, as plain data derived from the results dict."""
    extra = results.get("extra_data") or {}
    tests = results.get("tests") or []
    checks = _mark_repeats([_check(i, t, extra.get("module")) for i, t in enumerate(tests)])
    fixes = _fixes(checks)
    cause = _cause(checks, fixes)
    training_at = _find(tests, ("history", "min_accuracy"))
    names = [str(n) for n in extra.get("class_names") or []]
    with clock.stage("report: figures (the training plot, the test images)"):
        training = _training(tests, checks, training_at, extra, cause)
        predictions = _predictions(extra.get("predictions"), images, training, cause, names)
    return {
        "header": _header(results, extra, checks),
        "checks": checks,
        "fixes": fixes,
        "model": _model(tests, checks, cause),
        "training": training,
        "predictions": predictions,
        "printed": _printed(results.get("output") or "", extra.get("output_dropped"), extra.get("output_over_limit")),
        "reproducibility": _reproducibility(extra, tests, training_at),
    }


# Header and checks ------------------------------------------------------------------------------

def _header(results: dict, extra: dict, checks: list[dict]) -> dict[str, Any]:
    score = float(results.get("score") or 0)
    maximum = float(extra.get("max_score") or sum(c["max_score"] for c in checks))
    passed = extra.get("passed")
    if passed is None:
        passed = bool(checks) and all(c["passed"] for c in checks)
    return {
        "assignment": str(extra.get("assignment") or "assignment"),
        "submission": str(extra.get("submission") or "submission"),
        "score": score,
        "max_score": maximum,
        "percent": round(100 * score / maximum, 1) if maximum else 0.0,
        "passed": bool(passed),
        "checks_passed": sum(c["passed"] for c in checks),
        "checks": len(checks),
        "graded_at": extra.get("graded_at"),
        "execution_time": _number(results.get("execution_time")),
        "accuracy": _number(extra.get("accuracy")),
        "grader_faults": [str(f) for f in extra.get("grader_faults") or []],
        "self_check": str(extra.get("self_check") or ""),
    }


def _check(index: int, test: dict, module: str | None) -> dict[str, Any]:
    data = test.get("extra_data") or {}
    output = str(test.get("output") or "")
    feedback = str(data.get("feedback") or output.split("\n\n")[0])
    hint = str(data.get("hint") or "")
    details = details_of(test)
    fault = data.get("fault")
    label, meaning = FAULT_KINDS.get(fault, (str(fault).replace("_", " ").capitalize(), "")) if fault else ("", "")
    relevant, hidden = _relevant_lines(details, module)
    passed = test.get("status", "passed" if test.get("score", 0) >= test.get("max_score", 0) else "failed") == "passed"
    return {
        "id": f"check-{index + 1}",
        "name": str(test.get("name") or f"check {index + 1}"),
        "passed": passed,
        "score": float(test.get("score") or 0),
        "max_score": float(test.get("max_score") or 0),
        "feedback": feedback,
        "hint": hint,
        "fix": str(data.get("fix") or ""),
        "fault": str(fault or ""),
        "fault_label": label,
        "fault_meaning": meaning,
        "line": data.get("line") if isinstance(data.get("line"), int) else None,
        "module": module or "",
        "duration": _number(data.get("duration")),
        "visibility": str(test.get("visibility") or "visible"),
        "has_layers": "diff" in data,
        "waits_for": [str(n) for n in data.get("waits_for") or [] if isinstance(n, str)],
        "details": _clip(details, DETAILS_SHOWN),
        "details_clipped": len(details) > DETAILS_SHOWN,
        "relevant": _clip(relevant, DETAILS_SHOWN),
        "hidden_lines": hidden,
    }


def _mark_repeats(checks: list[dict]) -> list[dict]:
    """Point a failure identical to an earlier one (a syntax error fails every check) back to it instead of repeating it."""
    seen: dict[tuple, dict] = {}
    for check in checks:
        key = (check["feedback"], check["hint"], check["details"])
        check["same_as"] = None
        if not check["passed"] and check["fault"] != "blocked":
            first = seen.setdefault(key, check)
            if first is not check:
                check["same_as"] = {"id": first["id"], "name": first["name"]}
    return checks


def _relevant_lines(details: str, module: str | None) -> tuple[str, int]:
    """The lines of a traceback that point into the submission (paths shortened), and how many others were left out."""
    lines = details.splitlines()
    if not any(_FRAME.match(line) for line in lines):
        return details, 0
    kept: list[str] = []
    own = True
    for line in lines:
        frame = _FRAME.match(line)
        if frame:
            indent, path, number, where = frame.groups()
            own = (module and PurePosixPath(path).name == module) or "/submission/" in path
            if own:
                line = f'{indent}File "{PurePosixPath(path).name}", line {number}, in {where}'
        elif line.strip() and not line.startswith(" "):
            own = True  # the exception's own line, or text around the traceback
        if own:
            kept.append(line)
    if not any(_FRAME.match(line) for line in kept):
        return details, 0
    return "\n".join(kept).strip("\n"), len(lines) - len(kept)


def _fixes(checks: list[dict]) -> list[dict[str, Any]]:
    """Failed checks grouped by identical advice (one syntax error fails every check), blocked ones last."""
    groups: list[dict[str, Any]] = []
    for check in checks:
        if check["passed"]:
            continue
        key = (check["feedback"], check["hint"], check["fault"])
        group = next((g for g in groups if g["key"] == key), None)
        if group is None:
            group = {"key": key, "checks": [], "lost": 0.0, "feedback": check["feedback"], "hint": check["hint"],
                     "fix": check["fix"], "line": check["line"], "module": check["module"],
                     "fault_label": check["fault_label"], "blocked": check["fault"] == "blocked",
                     "layers": check["has_layers"]}
            groups.append(group)
        group["checks"].append({"id": check["id"], "name": check["name"]})
        group["lost"] += check["max_score"] - check["score"]
    for group in groups:
        first = next(c for c in checks if c["id"] == group["checks"][0]["id"])
        group["waits_for"] = _culprits(checks, first["waits_for"]) if group["blocked"] else []
    return sorted(groups, key=lambda g: g["blocked"])


def _cause(checks: list[dict], fixes: list[dict]) -> dict[str, Any]:
    """Why there may be no model to show: the check a blocked step waited for, or the one shared failure."""
    blocker = next((c for c in checks if not c["passed"] and c["fault"] in ("blocked", "training")), None)
    waits = _culprits(checks, blocker["waits_for"]) if blocker else []
    if waits:
        return {"text": f"{', '.join(w['name'] for w in waits)} failed", "links": waits, "blocker": blocker}
    roots = [g for g in fixes if not g["blocked"]]
    if len(roots) == 1:
        return {"text": roots[0]["feedback"].rstrip("."), "links": roots[0]["checks"][:1], "blocker": blocker}
    return {"text": "an earlier check failed", "links": _failed_links(checks), "blocker": blocker}


def _find(tests: list[dict], keys: tuple[str, ...]) -> int | None:
    """The index of the first test whose extra_data has one of `keys`."""
    return next((i for i, t in enumerate(tests) if any(k in (t.get("extra_data") or {}) for k in keys)), None)


def _culprits(checks: list[dict], names: list[str]) -> list[dict[str, str]]:
    """The failed checks among `names`, the checks a blocked check waited for (its extra_data's waits_for)."""
    return [{"id": c["id"], "name": c["name"]} for c in checks if not c["passed"] and c["name"] in names]


def _failed_links(checks: list[dict]) -> list[dict[str, str]]:
    return [{"id": c["id"], "name": c["name"]} for c in checks if not c["passed"] and c["fault"] != "blocked"]


# The model --------------------------------------------------------------------------------------

def _model(tests: list[dict], checks: list[dict], cause: dict) -> dict[str, Any]:
    at = _find(tests, ("diff", "layers"))
    if at is None:
        if not any(not c["passed"] for c in checks):
            return {"available": False, "reason": "No model: these results hold no model description.", "links": []}
        return {"available": False, "reason": f"No model: {cause['text']}.", "links": cause["links"]}
    data = tests[at].get("extra_data") or {}
    diff = [row for row in data.get("diff") or [] if isinstance(row, dict)]
    layers = [layer for layer in data.get("layers") or [] if isinstance(layer, dict)]
    got_rows = [row for row in diff if row.get("got")]
    aligned = len(got_rows) == len(layers)
    built = iter(layers if aligned else [])
    rows = []
    for number, row in enumerate(diff, start=1):
        status = str(row.get("status") or "same")
        rows.append({"n": number, "status": status, "mark": _MARKS.get(status, "?"),
                     "expected": row.get("expected") or "", "got": row.get("got") or "", "note": row.get("note") or "",
                     "expected_shape": str(row.get("expected_shape") or ""), "got_shape": str(row.get("got_shape") or ""),
                     "layer": next(built, None) if row.get("got") else None})
    return {
        "available": True,
        "check": {"id": checks[at]["id"], "name": checks[at]["name"], "passed": checks[at]["passed"]},
        "rows": rows,
        "aligned": aligned,
        "layers": layers,
        "differences": sum(r["status"] != "same" for r in rows),
        "total_params": data.get("total_params"),
        "expected_params": data.get("expected_params"),
        "input_shape": data.get("input_shape") or "",
        "output_shape": data.get("output_shape") or "",
    }


# Training ---------------------------------------------------------------------------------------

_BUDGET = (("epochs", "Epochs"), ("batch_size", "Batch size"), ("train_samples", "Training images"),
           ("test_samples", "Test images"), ("seed", "Seed"), ("training_seconds", "Training time (s)"),
           ("stopped_early", "Stopped at the time budget"), ("compile_settings", "Trained with"))


def _training(tests: list[dict], checks: list[dict], at: int | None, extra: dict, cause: dict) -> dict[str, Any]:
    data = (tests[at].get("extra_data") or {}) if at is not None else {}
    history = {str(k): [_number(v) for v in values] for k, values in (data.get("history") or {}).items()
               if isinstance(values, list) and values and all(_number(v) is not None for v in values)}
    if at is None or not history:
        blocker = cause["blocker"]
        if blocker is None:
            return {"available": False, "reason": "No training: these results hold no training run.", "links": []}
        own = [{"id": blocker["id"], "name": blocker["name"]}]
        if blocker["fault"] == "training":
            return {"available": False, "reason": f"No training: {blocker['feedback']}", "links": own}
        return {"available": False, "reason": f"No training: {cause['text']}, so the grader had no model to train.",
                "links": own + [link for link in cause["links"] if link not in own]}
    accuracy, minimum = _number(data.get("accuracy", extra.get("accuracy"))), _number(data.get("min_accuracy"))
    epochs = max(len(v) for v in history.values())
    plot = figures.history(history, min_accuracy=minimum, test_accuracy=accuracy) if epochs >= 2 else None
    described = describe_history(history, min_accuracy=minimum, test_accuracy=accuracy)
    budget = []
    for key, label in _BUDGET:
        if key in data:
            value = data[key]
            budget.append((label, "yes" if value is True else "no" if value is False else value))
    cache = data.get("training_cache") if isinstance(data.get("training_cache"), dict) else None
    shared = cache.get("shared") if cache and isinstance(cache.get("shared"), int) else None
    return {
        "available": True,
        "check": {"id": checks[at]["id"], "name": checks[at]["name"], "passed": checks[at]["passed"]},
        "cache": None if cache is None else memo.sharing_text(shared, bool(cache.get("reused"))),
        "plot": plot,
        "plot_text": described,
        "metrics": sorted(history),
        "epochs": [{"n": i + 1, "cells": [history[m][i] if i < len(history[m]) else None for m in sorted(history)]}
                   for i in range(epochs)],
        "budget": budget,
        "accuracy": accuracy,
        "min_accuracy": minimum,
        "accuracy_pct": None if accuracy is None else round(100 * accuracy, 1),
        "min_pct": None if minimum is None else round(100 * minimum, 1),
    }


def describe_history(history: dict[str, list[float]], *, min_accuracy: float | None = None,
                     test_accuracy: float | None = None) -> str:
    """The training plot in words, with its numbers: each metric's first, last and extreme values per epoch, the
    pass mark and the test accuracy (the plot's text alternative; the per-epoch table holds every value)."""
    parts = []
    for metric in sorted(history):
        values = history[metric]
        if not values:
            continue
        best = min if "loss" in metric else max
        text = f"{metric} (train) went from {values[0]:.4f} at epoch 1 to {values[-1]:.4f} at epoch {len(values)}"
        extreme = best(values)
        if extreme not in (values[0], values[-1]):
            text += f", {'lowest' if best is min else 'highest'} {extreme:.4f} at epoch {values.index(extreme) + 1}"
        parts.append(text)
    sentence = "; ".join(parts) + "." if parts else "No values."
    if min_accuracy is not None:
        sentence += f" The dashed line is the minimum accuracy, {min_accuracy:g}."
    if test_accuracy is not None:
        sentence += f" The star is the test accuracy, {test_accuracy:.4f}."
    return sentence


# Predictions ------------------------------------------------------------------------------------

def _predictions(predictions: dict | None, images: np.ndarray | None, training: dict, cause: dict,
                 names: list[str]) -> dict[str, Any]:
    if not predictions:
        if training["available"] or cause["blocker"] is None:
            return {"available": False, "reason": "No predictions: these results hold none.", "links": []}
        return {"available": False, "links": [{"id": "training", "name": "Training"}],
                "reason": "No predictions: no model was trained, so there is nothing to predict with."}
    pictures = _Pictures(images)
    samples = [_prediction(p, pictures, names) for p in (predictions.get("samples") or [])[:SAMPLES_SHOWN]]
    mistakes = [_prediction(p, pictures, names) for p in predictions.get("confident_mistakes") or []]
    return {"available": True, "pictures": images is not None, "samples": samples, "mistakes": mistakes,
            "sample_errors": sum(not s["correct"] for s in samples),
            "confusion": _confusion(predictions.get("confusion") or [], names)}


def _name(label: Any, names: list[str]) -> str:
    """A class as the spec names it (results' class_names), else its number."""
    return names[label] if isinstance(label, int) and 0 <= label < len(names) else str(label)


class _Pictures:
    """Data URIs of test images by index, each drawn once."""

    def __init__(self, images: np.ndarray | None) -> None:
        self.images = images
        self.cache: dict[int, str | None] = {}

    def get(self, index: int) -> str | None:
        if self.images is None or not 0 <= index < len(self.images):
            return None
        if index not in self.cache:
            self.cache[index] = figures.picture(self.images[index])
        return self.cache[index]


def _prediction(row: dict, pictures: _Pictures, names: list[str]) -> dict[str, Any]:
    index = int(row.get("index", -1))
    predicted, label = row.get("predicted"), row.get("label")
    confidence = row.get("confidence")
    return {"index": index, "predicted": _name(predicted, names), "label": _name(label, names),
            "correct": predicted == label,
            "confidence": f"{100 * float(confidence):.0f}%" if isinstance(confidence, (int, float)) else "",
            "picture": pictures.get(index)}


# The confusion matrix's cells: a share of the row shades the cell in green (right) or red (wrong), drawn over white.
_SHADES = {True: (47, 133, 90), False: (192, 57, 43)}
_INKS = ("#000000", "#ffffff")  # one of them is at least 4.58:1 against any background, so text stays readable


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.1's relative luminance of an sRGB colour given as 0..255 channels."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    """WCAG 2.1's contrast ratio of two colours written #rrggbb (1 to 21)."""
    lighter, darker = sorted((_luminance(tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))) for c in (first, second)),
                             reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _cell_colours(shade: float, diagonal: bool) -> tuple[str, str]:
    """The background of a confusion cell shaded `shade` (0..1) over white, and the ink that reads best on it."""
    background = "#" + "".join(f"{round(255 + (c - 255) * shade):02x}" for c in _SHADES[diagonal])
    ink = max(_INKS, key=lambda colour: contrast(colour, background))
    return background, ink


def _confusion(matrix: list[list[int]], names: list[str]) -> dict[str, Any] | None:
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.size == 0:
        return None
    totals = counts.sum(axis=1)
    rows = []
    for true, row in enumerate(counts):
        cells = []
        for predicted, count in enumerate(row):
            share = count / totals[true] if totals[true] else 0.0
            # Shade by the share of the row; mistakes are rarer, so their shade is stretched to stay visible.
            shade = min(1.0, share * (1 if true == predicted else 3))
            background, ink = _cell_colours(shade, true == predicted) if count else ("", "")
            cells.append({"count": int(count), "diagonal": true == predicted, "predicted": _name(predicted, names),
                          "background": background, "ink": ink})
        recall = f"{100 * row[true] / totals[true]:.0f}%" if totals[true] else "–"
        rows.append({"label": _name(true, names), "cells": cells, "total": int(totals[true]), "recall": recall})
    off = [(int(counts[t, p]), t, p) for t in range(len(counts)) for p in range(len(counts)) if t != p and counts[t, p]]
    worst = [{"label": _name(t, names), "predicted": _name(p, names), "count": c}
             for c, t, p in sorted(off, key=lambda x: (-x[0], x[1], x[2]))[:3]]
    total = counts.sum()
    return {"classes": [_name(c, names) for c in range(len(counts))], "rows": rows, "worst": worst,
            "accuracy": f"{100 * np.trace(counts) / total:.1f}%" if total else "–", "total": int(total)}


# Printed output and reproducibility -------------------------------------------------------------

def _printed(text: str, dropped: Any = None, over_limit: Any = None) -> dict[str, Any]:
    """What was printed, its head and tail as results.json keeps them (grader.printed), how many characters between
    them were dropped, and how many past the sandbox's output limit (results written before output_over_limit
    counted only those, in output_dropped)."""
    count = lambda n: n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0  # noqa: E731
    # Grading kept OUTPUT_SHOWN characters and a marker; a results.json written before kept other parts: cut it now.
    shown, cut = (text, 0) if len(text) <= OUTPUT_SHOWN + printed.MARKER_ROOM else printed.head_and_tail(text, OUTPUT_SHOWN)
    over = count(over_limit) if over_limit is not None else count(dropped)
    return {"text": shown, "length": len(text), "half": OUTPUT_SHOWN // 2, "over_limit": over,
            "between": max(0, count(dropped) - over) + cut}


def _reproducibility(extra: dict, tests: list[dict], training_at: int | None) -> dict[str, Any]:
    command = extra.get("command")
    if isinstance(command, (list, tuple)):
        command = shlex.join(str(part) for part in command)
    seed = extra.get("seed")
    if seed is None and training_at is not None:
        seed = (tests[training_at].get("extra_data") or {}).get("seed")
    data = extra.get("data") if isinstance(extra.get("data"), dict) else {}
    versions = extra.get("versions") if isinstance(extra.get("versions"), dict) else {}
    return {"versions": sorted((str(k), str(v)) for k, v in versions.items()),
            "data": [(label, str(data[key])) for key, label in (("source", "Source"), ("path", "Path"), ("sha256", "SHA-256"))
                     if data.get(key)],
            "seed": seed, "command": str(command) if command else "", "module": str(extra.get("module") or ""),
            "isolation": _isolation(extra.get("isolation"))}


def _isolation(record: Any) -> dict[str, Any]:
    """The sandbox's isolation layers as (name, what it did) pairs, and the missing ones."""
    record = record if isinstance(record, dict) else {}
    layers = record.get("layers") if isinstance(record.get("layers"), dict) else {}
    missing = record.get("missing") if isinstance(record.get("missing"), list) else []
    return {"layers": [(str(k), str(v)) for k, v in layers.items()], "missing": [str(m) for m in missing]}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "\n…"


def _num(value: Any) -> str:
    """Points and other numbers without a useless `.0`: 10.0 -> 10, 0.5 -> 0.5."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


_CACHE_NOTE = re.compile(r'<p class="note" id="training-cache"( hidden)?>[^<]*</p>')  # submitted text is escaped: no "<"


def with_sharing(page: str, sentence: str) -> str:
    """A drawn report whose sentence about its memoized training (the template's #training-cache) is `sentence`."""
    import html

    return _CACHE_NOTE.sub(lambda _: f'<p class="note" id="training-cache">{html.escape(sentence)}</p>', page, count=1)
