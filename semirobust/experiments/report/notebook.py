"""Checks a notebook runs right after its parameters cell, before any compute.

papermill only warns about a parameter the notebook does not declare and then runs the defaults: ``-p modle
vgg16`` would train and record the default experiment. :func:`reject_unknown_parameters` stops such a run
instead; every parameterized notebook in ``notebooks/`` calls it, with ``globals()``, in the cell right after
its parameters cell.
"""
from __future__ import annotations

import ast
import difflib

#: the first line of the cell papermill injects after the author's parameters cell.
INJECTED_FIRST_LINE = "# Parameters"


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


__all__ = ["INJECTED_FIRST_LINE", "assigned_names", "reject_unknown_parameters"]
