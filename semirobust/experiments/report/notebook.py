"""What a page's notebook calls, in order.

Right after its parameters cell, :func:`check_parameters` with ``globals()``: papermill only warns about a
parameter the notebook does not declare and then runs the defaults (``-p modle vgg16`` would train and record
the default experiment), and an output folder that cannot be written would fail only after the compute; both
stop the run here instead. Then :func:`glue_all` glues a dict of values under their names and
:func:`show_figure` saves a figure (the legibility check of
:func:`semirobust.experiments.report.style.save_figure` included), glues it and its caption, and closes it.
``myst_nb`` (the book's extra) is imported only when a notebook calls them.
"""
from __future__ import annotations

import ast
import difflib
from pathlib import Path

import matplotlib.pyplot as plt

from semirobust.experiments.report.style import save_figure
from semirobust.utils import check_output_dir

#: the first line of the cell papermill injects after the author's parameters cell.
INJECTED_FIRST_LINE = "# Parameters"
#: the notebooks' parameters that name a folder the run writes to
OUTPUT_PARAMETERS = ("results_dir", "cache_dir", "figures_dir", "data_dir")


def assigned_names(source: str) -> list[str]:
    """The names a cell's source assigns at its top level (``a = ...``, ``a: int = ...``, ``a = b = ...``)."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.append(leaf.id)
    return list(dict.fromkeys(names))


def _injected_index(history: list[str]) -> int | None:
    """Index of the last cell in ``history`` (before the running one) whose first line is papermill's marker."""
    for index in range(len(history) - 2, 0, -1):
        if history[index].splitlines()[:1] == [INJECTED_FIRST_LINE]:
            return index
    return None


def reject_unknown_parameters(namespace: dict) -> None:
    """Compare the names papermill injected with those the author's parameters cell assigns (both read with
    ``ast`` from IPython's input history ``_ih`` in ``namespace``: the injected cell starts with the line
    "# Parameters" and comes right after the author's cell). An unknown name stops the run with a ValueError:
    "unknown parameter 'modle'; did you mean 'model'?". No injected cell (run by hand): nothing to check."""
    history = list(namespace.get("_ih") or [])
    index = _injected_index(history)
    if index is None or index < 1:
        return
    declared = assigned_names(history[index - 1])
    for name in assigned_names(history[index]):
        if name in declared:
            continue
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the notebook's parameters are {', '.join(declared)}."
        raise ValueError(f"unknown parameter {name!r}; {hint}")


def check_parameters(namespace: dict) -> None:
    """The notebook's check cell: :func:`reject_unknown_parameters`, then every output folder the notebook was
    given (:data:`OUTPUT_PARAMETERS` that are set) created and written once, an error naming the parameter and
    the path otherwise (``None`` means the library's default folder, checked where the run opens it)."""
    reject_unknown_parameters(namespace)
    for name in OUTPUT_PARAMETERS:
        if namespace.get(name) is not None:
            check_output_dir(namespace[name], name)


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


__all__ = ["INJECTED_FIRST_LINE", "OUTPUT_PARAMETERS", "assigned_names", "reject_unknown_parameters",
           "check_parameters", "glue_all", "show_figure"]
