"""Grid files of a sweep: the YAML format (see :mod:`semirobust.pipeline.sweep`), its cells and their checks."""
from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from semirobust.config import ARCHS, ATTACKS, DATASETS, PROFILES
from semirobust.names import RecordKind
from semirobust.results import record_hash, to_jsonable
from semirobust.utils import REPO_ROOT

CELL_KIND = RecordKind.SWEEP_CELL
EXECUTORS = ("local", "submitit-local", "slurm")
GRID_KEYS = ("name", "description", "notebook", "parameters", "axes", "slurm")
#: keys of a grid's ``slurm`` section and the matching ``submitit.AutoExecutor`` parameter.
SLURM_KEYS = {
    "partition": "slurm_partition",
    "gpus_per_job": "gpus_per_node",
    "cpus_per_job": "cpus_per_task",
    "time_min": "timeout_min",
    "mem_gb": "mem_gb",
    "array_parallelism": "slurm_array_parallelism",
    "additional_parameters": "slurm_additional_parameters",
    "setup": "slurm_setup",
}


@dataclass(frozen=True)
class Cell:
    """One notebook run: the notebook, its parameters and the names derived from them."""

    notebook: Path  # absolute path of the source notebook
    notebook_id: str  # path relative to the repository (stable across machines)
    parameters: dict
    label: str  # the axis values, readable

    @property
    def config(self) -> dict:
        return {"notebook": self.notebook_id, "parameters": self.parameters}

    @property
    def hash(self) -> str:
        return record_hash(CELL_KIND, self.config)

    @property
    def cell_id(self) -> str:
        """File-name stem: notebook name, axis values and the config hash (unique)."""
        readable = re.sub(r"[^A-Za-z0-9._=-]+", "-", self.label).strip("-")[:100]
        return "__".join(part for part in (self.notebook.stem, readable, self.hash) if part)


@dataclass
class Grid:
    """A validated grid file."""

    path: Path
    name: str
    description: str
    notebook: Path
    notebook_id: str
    parameters: dict
    axes: list  # [(names tuple, list of value tuples)]
    slurm: dict = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        """The cross product of the axes, in file order, each with the fixed parameters."""
        cells = []
        for combo in itertools.product(*(values for _, values in self.axes)):
            params = dict(self.parameters)
            label = []
            for (names, _), values in zip(self.axes, combo):
                for name, value in zip(names, values):
                    params[name] = value
                    label.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
            cells.append(Cell(self.notebook, self.notebook_id, params, "_".join(label)))
        return cells


def notebook_parameters(notebook: Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (the names papermill can set).

    Read with Python's ``ast`` rather than ``papermill.inspect_notebook``, whose line parser
    skips assignments followed by some comments (e.g. ``k = 1.0  # ... Acc* - Acc <= k``)."""
    return list(notebook_defaults(notebook))


def notebook_defaults(notebook: Path) -> dict:
    """The names of :func:`notebook_parameters`, each with its default value in the notebook (None where the
    default is not a plain literal): what a cell runs with when the grid does not set a parameter."""
    import ast

    import nbformat

    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except Exception as err:  # nbformat raises several types for unreadable files
        raise ValueError(f"Cannot read notebook {notebook}: {type(err).__name__}: {err}") from err
    names = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError as err:
                raise ValueError(f"The parameters cell of {notebook} is not valid Python: {err}") from err
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
                for target in targets:
                    if isinstance(target, ast.Name) and target.id not in names:
                        names[target.id] = _literal(node.value)
    return names


def _literal(node):
    import ast

    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


#: notebook parameters that are RunConfig fields under another name (the rest keep their names)
_RUN_FIELDS = {"model": "arch"}
_COMMON_FIELDS = ("attack", "eps", "trials", "epochs", "k", "profile", "seed", "data_root", "device")


def cell_configs(notebook: Path, parameters: dict) -> list:
    """The validated RunConfigs one cell's notebook will build (an Algorithm 1 notebook: one with a ``model``
    or ``models`` parameter), from its parameters over the notebook's defaults; [] for other notebooks.

    An impossible cell (f_b = 17 on AlexNet, a budget above the pixel range) is a ValueError here, before
    anything runs, instead of a failure after the cell's first minutes of training."""
    import torch

    from semirobust.experiments.table1.configs import build_configs

    values = {**notebook_defaults(notebook), **parameters}
    if "model" not in values and "models" not in values:
        return []
    common = {name: values[name] for name in _COMMON_FIELDS if name in values}
    if str(common.get("device", "")).startswith("cuda") and not torch.cuda.is_available():
        common["device"] = "auto"  # the cell runs on a GPU machine; checked there again
    sizes = values.get("fb_sizes")
    if sizes is None and values.get("fb_layers") is not None:
        sizes = [values["fb_layers"]]
    return build_configs(values.get("models", values.get("model")), values.get("datasets", values.get("dataset")),
                         fb_sizes=sizes, **common)


def check_cells(grid: Grid) -> None:
    """Build every cell's RunConfigs (:func:`cell_configs`): a ValueError naming the first impossible cell."""
    for cell in grid.cells():
        try:
            cell_configs(grid.notebook, cell.parameters)
        except ValueError as err:
            given = cell.label or ", ".join(f"{k}={v}" for k, v in cell.parameters.items())
            raise ValueError(f"Grid file {grid.path}: the cell {given} cannot run: {err}") from None


def _notebook_id(notebook: Path) -> str:
    try:
        return notebook.relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return notebook.as_posix()


def _check_known_values(name: str, value, where: str) -> None:
    """Early check of values whose choices the library knows (model, dataset, attack, profile)."""
    choices = {"model": ARCHS, "dataset": DATASETS, "attack": ATTACKS, "profile": PROFILES + ("auto",)}.get(name)
    if choices is not None and value not in choices:
        raise ValueError(f"{where}: unknown {name} {value!r}; valid values: {', '.join(choices)}.")


def load_grid(path: str | os.PathLike) -> Grid:
    """Read and validate a grid file; every problem is a ValueError before anything runs."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Grid file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"Grid file {path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"Grid file {path} must be a mapping with keys {', '.join(GRID_KEYS)}.")
    unknown = sorted(set(data) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"Grid file {path}: unknown key(s) {unknown}; allowed keys: {', '.join(GRID_KEYS)}.")
    if not isinstance(data.get("notebook"), str):
        raise ValueError(f"Grid file {path}: 'notebook' (path of a .ipynb, relative to the grid file) is required.")
    notebook = (path.parent / data["notebook"]).resolve()
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise ValueError(f"Grid file {path}: unknown notebook {data['notebook']!r} (looked for {notebook}).")
    known = notebook_parameters(notebook)
    if not known:
        raise ValueError(f"Notebook {notebook} has no cell tagged 'parameters'; papermill cannot parameterize it.")

    fixed = data.get("parameters") or {}
    if not isinstance(fixed, dict):
        raise ValueError(f"Grid file {path}: 'parameters' must be a mapping of name: value.")
    raw_axes = data.get("axes") or {}
    if not isinstance(raw_axes, dict):
        raise ValueError(f"Grid file {path}: 'axes' must be a mapping of name: [values].")

    axes, seen = [], dict.fromkeys(fixed, "parameters")
    for key, values in raw_axes.items():
        names = tuple(n.strip() for n in str(key).split(","))
        if not all(names):
            raise ValueError(f"Grid file {path}: axis {key!r} has an empty parameter name.")
        if not isinstance(values, list) or not values:
            raise ValueError(f"Grid file {path}: axis {key!r} is empty or not a list; give at least one value.")
        rows = []
        for value in values:
            row = tuple(value) if len(names) > 1 and isinstance(value, list) else (value,)
            if len(row) != len(names):
                raise ValueError(f"Grid file {path}: zipped axis {key!r} needs {len(names)} values per entry, got {value!r}.")
            rows.append(row)
        if len({json.dumps(to_jsonable(list(r)), sort_keys=True) for r in rows}) != len(rows):
            raise ValueError(f"Grid file {path}: axis {key!r} repeats a value.")
        for name in names:
            if name in seen:
                raise ValueError(f"Grid file {path}: parameter {name!r} is set twice (in {seen[name]} and axis {key!r}).")
            seen[name] = f"axis {key!r}"
        axes.append((names, rows))

    unknown = sorted(set(seen) - set(known))
    if unknown:
        raise ValueError(f"Grid file {path}: unknown parameter(s) {unknown} for {notebook.name}; "
                         f"its parameters cell defines: {', '.join(known)}.")
    try:
        fixed = to_jsonable(fixed)
        axes = [(names, [tuple(to_jsonable(list(r))) for r in rows]) for names, rows in axes]
    except ValueError as err:
        raise ValueError(f"Grid file {path}: {err}") from err
    for name, value in fixed.items():
        _check_known_values(name, value, f"Grid file {path}, parameter {name}")
    for names, rows in axes:
        for row in rows:
            for name, value in zip(names, row):
                _check_known_values(name, value, f"Grid file {path}, axis {','.join(names)}")

    slurm = data.get("slurm") or {}
    if not isinstance(slurm, dict) or set(slurm) - set(SLURM_KEYS):
        raise ValueError(f"Grid file {path}: 'slurm' must be a mapping with keys among {', '.join(SLURM_KEYS)}.")
    name = data.get("name") or path.stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
        raise ValueError(f"Grid file {path}: name {name!r} must be letters, digits, '_', '-', '.'.")
    grid = Grid(path=path, name=str(name), description=str(data.get("description") or ""), notebook=notebook,
                notebook_id=_notebook_id(notebook), parameters=fixed, axes=axes, slurm=dict(slurm))
    check_cells(grid)
    return grid


__all__ = ["CELL_KIND", "EXECUTORS", "GRID_KEYS", "SLURM_KEYS", "Cell", "Grid", "notebook_parameters", "notebook_defaults", "cell_configs", "check_cells",
           "load_grid"]
