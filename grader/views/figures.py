"""Small PNG figures for the report, drawn from plain data and returned as `data:` URIs.

Plots are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch), at a
low resolution, so that a report with all of them stays far below a megabyte. Test images are written as
PNGs of their own pixels without matplotlib: a report that shows no plot (one epoch) never imports it.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import struct
import zlib
from typing import Sequence

import numpy as np

DPI = 96
_INK = "#1f4e79"
_SECOND = "#c05621"
_THRESHOLD = "#a4161a"


def png_uri(png: bytes) -> str:
    """A `data:image/png;base64,...` URI holding `png`."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def picture(pixels: np.ndarray) -> str:
    """One greyscale image (28x28, or 28x28x1) as dark ink on white; uint8 0..255 or floats 0..1."""
    image = np.asarray(pixels)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"a picture must be a 2-D image (or one with a single channel); got shape {image.shape}.")
    whole = image.dtype == np.uint8
    image = np.nan_to_num(image.astype(np.float32), nan=0.0)
    top = 255.0 if whole or float(image.max(initial=0)) > 1.0 else 1.0
    ink = np.clip(image / top, 0.0, 1.0)
    return png_uri(grey_png(np.round(255 * (1 - ink)).astype(np.uint8)))


def grey_png(image: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of a 2-D uint8 array (0 black, 255 white)."""
    height, width = image.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # each row starts with filter type 0: none
    rows[:, 1:] = image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # depth 8, greyscale, deflate, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def history(history: dict[str, Sequence[float]], *, min_accuracy: float | None = None,
            test_accuracy: float | None = None) -> str:
    """Loss and the other metrics per epoch, side by side; the accuracy panel shows the pass mark and the test result.

    Drawn once per process for the same values: the submissions of a class that share a memoized
    training (grader.trusted.memo) share its history, and a batch worker draws their plot once.
    """
    return _history(json.dumps(history, sort_keys=True), min_accuracy, test_accuracy)


@functools.lru_cache(maxsize=32)
def _history(values: str, min_accuracy: float | None, test_accuracy: float | None) -> str:
    from matplotlib.figure import Figure

    history = json.loads(values)
    losses = {k: v for k, v in history.items() if "loss" in k and v}
    others = {k: v for k, v in history.items() if "loss" not in k and v}
    panels = [(title, series) for title, series in (("loss", losses), ("metrics", others)) if series]
    fig = Figure(figsize=(3.6 * max(1, len(panels)), 2.4), dpi=DPI)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.88, wspace=0.22)
    colours = [_INK, _SECOND, "#2f855a", "#6b46c1"]
    for i, (title, series) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        epochs = 0
        for colour, (name, values) in zip(colours, sorted(series.items())):
            xs = np.arange(1, len(values) + 1)
            ax.plot(xs, values, marker="o", markersize=3, color=colour, label=f"{name} (train)")
            epochs = max(epochs, len(values))
        if title == "metrics" and min_accuracy is not None:
            ax.axhline(min_accuracy, color=_THRESHOLD, linestyle="--", linewidth=1, label=f"minimum {min_accuracy:g}")
        if title == "metrics" and test_accuracy is not None:
            ax.plot([epochs], [test_accuracy], marker="*", markersize=9, linestyle="none", color=_THRESHOLD,
                    label=f"test {test_accuracy:.3f}")
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper right" if title == "loss" else "lower right")  # "best" is slow to place
    return _save(fig)


def _score_edges(scores: Sequence[float], maximum: float) -> np.ndarray:
    """One bin per whole point up to 50 points, 20 equal bins over the scores beyond."""
    if maximum and maximum <= 50:
        return np.arange(int(maximum) + 2) - 0.5
    return np.histogram_bin_edges(np.asarray(scores, dtype=float), bins=20)


def score_bins(scores: Sequence[float], maximum: float) -> list[tuple[float, float, int]]:
    """The histogram's bars as (low, high, count); a bar of one whole point has low == high, the score. The plot and
    its text alternative on the class page are both drawn from these."""
    edges = _score_edges(scores, maximum)
    counts, _ = np.histogram(np.asarray(scores, dtype=float), bins=edges)
    whole = bool(maximum and maximum <= 50)
    return [(float(low + 0.5), float(low + 0.5), int(n)) if whole else (float(low), float(high), int(n))
            for low, high, n in zip(edges[:-1], edges[1:], counts)]


def score_histogram(scores: Sequence[float], maximum: float) -> str:
    """How many submissions got each score: the bars of `score_bins`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 2.2), dpi=DPI)
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(scores, bins=_score_edges(scores, maximum), color=_INK, edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _save(fig)


def _save(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return png_uri(buffer.getvalue())
