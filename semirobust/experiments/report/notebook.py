"""What a page's notebook calls to hand values and figures to its page: :func:`glue_all` glues a dict of values
under their names, :func:`show_figure` saves a figure (the legibility check of
:func:`semirobust.experiments.report.style.save_figure` included), glues it and its caption, and closes it.
``myst_nb`` (the book's extra) is imported only when a notebook calls them."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from semirobust.experiments.report.style import save_figure


def glue_all(values: dict) -> None:
    """Glue every ``name: value`` of ``values`` for the page's text, without displaying it."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)


def show_figure(fig: plt.Figure, name: str, caption: str | None = None, figures_dir: str | Path = "figures",
                inline: bool = False, stem: str | None = None) -> Path:
    """Save ``fig`` as ``<figures_dir>/<stem or name>.png``, glue it as ``name`` (shown in the cell's output too where
    ``inline``: pages that draw the figure where the code is, not through ``{glue:figure}``) and ``caption``
    (when given) as ``<name>_caption``, then close it; returns the PNG's path."""
    from myst_nb import glue

    path = save_figure(fig, Path(figures_dir) / f"{stem or name}.png")
    glue(name, fig, display=inline)
    if caption is not None:
        glue(f"{name}_caption", caption, display=False)
    plt.close(fig)
    return path


__all__ = ["glue_all", "show_figure"]
