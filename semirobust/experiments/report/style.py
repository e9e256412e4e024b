"""The book's one figure style: every figure is as wide as the article column (:data:`COLUMN_INCHES`), holds at
most :data:`MAX_PANELS_PER_ROW` panels a row and no text under :data:`MIN_FONT_PT` there
(:func:`legibility_problems` checks it); :func:`save_figure` refuses a figure that breaks these rules, so no
illegible figure reaches the book. Draw with :func:`book_figure` inside :func:`book_style`."""
from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.text import Text

from semirobust.utils import atomic_write_bytes

#: the width of the book's text column: the article is 752 CSS px at a 1280 px window, 688 px of it inside its
#: padding, which figures fill; 96 px to the inch.
COLUMN_INCHES = 688 / 96
#: the smallest text a figure may show at the column's width, and the most panels in one row.
MIN_FONT_PT = 9.0
MAX_PANELS_PER_ROW = 3
#: matplotlib settings of the book's figures: nothing under 9 pt when the figure is the column's width.
BOOK_RC = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
           "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 10,
           "figure.labelsize": 10}


def book_style(draw):
    """Decorator: ``draw`` runs under :data:`BOOK_RC`, so every text it adds (titles, labels, legends) gets
    the book's sizes whatever the caller's matplotlib settings."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with plt.rc_context(BOOK_RC):
            return draw(*args, **kwargs)
    return wrapper


def book_figure(panels: int = 1, height: float = 3.0, ncols: int | None = None,
                **subplot_kw) -> tuple[plt.Figure, object]:
    """A figure as wide as the book's column holding ``panels`` panels, at most three a row (``ncols``: fewer);
    returns the figure and its axes as a 2-d array (rows x columns). ``height`` is per row, in inches;
    ``subplot_kw`` (``sharex``, ``sharey``) goes to ``plt.subplots``. Draw on it inside :func:`book_style` (or
    ``plt.rc_context(BOOK_RC)``) so that later text keeps the book's sizes."""
    if panels < 1:
        raise ValueError(f"panels={panels} must be at least 1.")
    if ncols is not None and not 1 <= ncols <= MAX_PANELS_PER_ROW:
        raise ValueError(f"ncols={ncols} must be between 1 and {MAX_PANELS_PER_ROW}.")
    ncols = min(panels, ncols or MAX_PANELS_PER_ROW)
    nrows = math.ceil(panels / ncols)
    with plt.rc_context(BOOK_RC):
        return plt.subplots(nrows, ncols, figsize=(COLUMN_INCHES, height * nrows), squeeze=False,
                            layout="constrained", **subplot_kw)


def legibility_problems(fig: plt.Figure, column_inches: float = COLUMN_INCHES, min_pt: float = MIN_FONT_PT) -> list[str]:
    """What keeps ``fig`` from reading well in the book's column: a width other than the column's (it is
    scaled to the column), more than three panels in a row, text under ``min_pt`` at the column's width."""
    problems = []
    width = fig.get_figwidth()
    if not 0.9 * column_inches <= width <= 1.1 * column_inches:
        problems.append(f"figure is {width:.2f} in wide, not the column's {column_inches:.2f} in")
    rows = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec() if ax.get_visible() else None
        if spec is not None:
            rows.setdefault(spec.rowspan.start, set()).add(spec.colspan.start)
    if any(len(cols) > MAX_PANELS_PER_ROW for cols in rows.values()):
        problems.append(f"more than {MAX_PANELS_PER_ROW} panels in a row")
    fig.canvas.draw()
    scale = column_inches / width
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() * scale < min_pt - 1e-6:
            problems.append(f"text {text.get_text()[:30]!r} at {text.get_fontsize() * scale:.1f} pt")
    return problems


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` (format from the suffix, e.g. .png or .pdf) atomically once it passes
    :func:`legibility_problems`; returns the path. Raises ``ValueError`` naming the figure and its problems."""
    path = Path(path)
    problems = legibility_problems(fig)
    if problems:
        raise ValueError(f"figure {path.name} would not read in the book's column: " + "; ".join(problems)
                         + ". Draw it with semirobust.experiments.report.style.book_figure under book_style.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["COLUMN_INCHES", "MIN_FONT_PT", "MAX_PANELS_PER_ROW", "BOOK_RC", "book_style", "book_figure",
           "legibility_problems", "save_figure"]
