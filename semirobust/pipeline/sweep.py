"""Resumable experiment sweeps: every cell of a grid file is one papermill job.

A grid file (YAML) names a notebook, fixed ``parameters`` and ``axes`` to cross::

    name: smoke                          # optional, default: the file name without .yaml
    description: CI smoke grid            # optional
    notebook: ../notebooks/table1.ipynb  # relative to the grid file
    parameters: {dataset: digits, profile: smoke}
    axes:
      model: [alexnet]
      fb_layers: [2, 4]
      "model,fb_layers": [[alexnet, 4], [vgg16, 12]]   # a zipped axis: values move together
    slurm: {partition: gpu, gpus_per_job: 1, time_min: 600, mem_gb: 32,
            cpus_per_job: 8, array_parallelism: 16, additional_parameters: {account: me},
            setup: ["source .venv/bin/activate"]}   # optional defaults for --executor slurm

Every parameter name is checked against the notebook's ``parameters`` cell before anything
runs. A cell is *done* when the results store holds its ``sweep_cell`` record (config =
notebook + parameters); the sweep writes that record itself after papermill succeeded, so it
does not depend on what the notebook does inside. Executed notebooks are written to a
temporary path and moved into place only on success; a failing attempt leaves the executed
notebook with its error under ``<out>/failed/``, its log under ``<out>/logs/``, and never
touches a finished cell's files. Each cell runs in its own working directory
``<out>/files/<cell id>/``, so relative output paths of a notebook (figures) never collide.

Executors: ``local`` (N worker processes on this machine), ``submitit-local``
(``submitit.LocalExecutor``, to exercise the submitit path without a cluster) and ``slurm``
(``submitit.AutoExecutor(cluster="slurm")``; pending cells are submitted as one job array).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from semirobust.results import ResultsStore, describe_device, record_hash, to_jsonable
from semirobust.utils import REPO_ROOT, atomic_write_text

CELL_KIND = "sweep_cell"
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


# --------------------------------------------------------------------------------------------
# Grid files
# --------------------------------------------------------------------------------------------

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
    import ast

    import nbformat

    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except Exception as err:  # nbformat raises several types for unreadable files
        raise ValueError(f"Cannot read notebook {notebook}: {type(err).__name__}: {err}") from err
    names = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError as err:
                raise ValueError(f"The parameters cell of {notebook} is not valid Python: {err}") from err
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
                names.extend(t.id for t in targets if isinstance(t, ast.Name) and t.id not in names)
    return names


def _notebook_id(notebook: Path) -> str:
    try:
        return notebook.relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return notebook.as_posix()


def _check_known_values(name: str, value, where: str) -> None:
    """Early check of values whose choices the library knows (model, dataset, attack, profile)."""
    from semirobust.config import ARCHS, ATTACKS, DATASETS, PROFILES

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
    return Grid(path=path, name=str(name), description=str(data.get("description") or ""), notebook=notebook,
                notebook_id=_notebook_id(notebook), parameters=fixed, axes=axes, slurm=dict(slurm))


# --------------------------------------------------------------------------------------------
# Rough cost estimate
# --------------------------------------------------------------------------------------------

#: training / test images of each data set (imagenette2-320; digits: the bundled 80/20 split).
DATASET_SIZES = {"cifar10": (50000, 10000), "cifar100": (50000, 10000), "imagenette": (9469, 3925), "digits": (1437, 360)}
#: assumed sustained training throughput, FLOP/s: a single modern GPU and a single CPU core-set.
#: These are round numbers for a rough estimate, not measurements of any machine.
ASSUMED_GPU_FLOPS = 2e13
ASSUMED_CPU_FLOPS = 5e10
#: gradient steps per image of an attack besides the iterative ones (which follow the paper schedule):
#: FGSM one; C&W the 50 steps semirobust.attacks uses; AutoAttack (standard) an upper bound of
#: APGD-CE 100 + APGD-T 9x100 + FAB-T 9x100 + Square 5000 forward queries (~1/3 step each).
_FIXED_ATTACK_STEPS = {"fgsm": 1, "cw": 50, "autoattack": 100 + 900 + 900 + 5000 // 3}
_FLOPS_CACHE: dict = {}


def forward_flops(arch: str, dataset: str, width: float) -> float:
    """Forward FLOPs of one image through ``build_model(arch, dataset, width)``, counted by torch's
    FlopCounterMode on the meta device (shapes only: no memory, no arithmetic)."""
    key = (arch, dataset, float(width))
    if key not in _FLOPS_CACHE:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from semirobust.data import dataset_info
        from semirobust.models import build_model

        size = dataset_info(dataset).image_size  # outside the meta context: it may read the data
        with torch.device("meta"), torch.no_grad():
            model = build_model(arch, dataset, width=width).eval()
            with FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, 3, size, size))
        _FLOPS_CACHE[key] = float(counter.get_total_flops())
    return _FLOPS_CACHE[key]


def _attack_steps(attack: str, eps) -> int:
    if attack in _FIXED_ATTACK_STEPS:
        return _FIXED_ATTACK_STEPS[attack]
    from semirobust.attacks import paper_schedule

    return paper_schedule(eps)["steps"]


def _algorithm1_runs(parameters: dict) -> list[tuple[str, str]] | None:
    """The (model, data set) of every Algorithm 1 run a cell does, one per f_b size: from
    ``model``/``dataset`` (Table 1) or the lists ``models``/``datasets``/``fb_sizes`` (Figures 1, 2)."""
    from semirobust.experiments.table1 import parse_list

    models = parameters.get("models", parameters.get("model"))
    datasets = parameters.get("datasets", parameters.get("dataset"))
    if models is None or datasets is None or "profile" not in parameters:
        return None
    sizes = len(parse_list(parameters["fb_sizes"], "fb_sizes")) if parameters.get("fb_sizes") is not None else 1
    pairs = [(m, d) for m in parse_list(models, "models") for d in parse_list(datasets, "datasets")]
    return pairs * sizes


def estimate_cost(parameters: dict) -> dict | None:
    """A ROUGH cost estimate of one cell running Algorithm 1 (once per model, data set and f_b size
    it names), or None when the cell names no model/data set/profile. Model: forward FLOPs F of the
    network (counted), each training or attack step ~3F per image; the full-network regular + PGD-10
    adversarial training (shared by all runs of the same model, data set, profile and seed; it is
    cached) costs epochs x n_train x (1 + 11) x 3F; each run adds, assuming no trial stops early,
    trials x E x n_train x 11 x 3F of subnetwork PGD-10 training, (2 + trials x E) x n_eval x
    attack steps x 3F of evaluation (Acc*, Acc_sr, then after every epoch) and trials x n_rho x
    attack steps x 3F for the attacked test set on which rho is measured. Converted with
    ASSUMED_GPU_FLOPS for the paper profile (GPU-hours) and ASSUMED_CPU_FLOPS otherwise
    (CPU-minutes). AutoAttack's step count is an upper bound (every image stays robust through
    all its sub-attacks). Compute only: small (smoke/cpu) runs are dominated by per-batch and
    start-up overheads, so treat their numbers as lower bounds. Off by a factor of several
    either way; use it to size a cluster request, not as a promise.
    Returns ``{"unit", "cell": own cost, "shared": {(model, data set, profile, seed): cost}}``.
    """
    from semirobust.config import ARCHS, DATASETS, get_profile
    from semirobust.experiments.table1 import parse_eps

    runs = _algorithm1_runs(parameters)
    if not runs or any(m not in ARCHS or d not in DATASETS for m, d in runs):
        return None
    profile = get_profile(parameters["profile"], device="cpu" if parameters["profile"] == "auto" else None)
    trials = parameters.get("trials") or profile.trials
    epochs = parameters.get("epochs") or profile.sub_epochs
    attack_steps = _attack_steps(parameters.get("attack", "autoattack"), parse_eps(parameters.get("eps", "8/255")))
    on_gpu = profile.name == "paper"
    scale, unit = (ASSUMED_GPU_FLOPS * 3600, "GPU-h") if on_gpu else (ASSUMED_CPU_FLOPS * 60, "CPU-min")
    own, shared = 0.0, {}
    for model, dataset in runs:
        n_train_full, n_test_full = DATASET_SIZES[dataset]
        n_train = min(n_train_full, profile.train_subset or n_train_full)
        n_eval = min(n_test_full, profile.eval_subset or n_test_full)
        n_rho = min(n_test_full, profile.rho_samples or n_test_full)
        step = 3 * forward_flops(model, dataset, profile.width)
        shared[(model, dataset, profile.name, parameters.get("seed", 0))] = \
            profile.epochs * n_train * (1 + 11) * step / scale
        own += (trials * epochs * n_train * 11 + (2 + trials * epochs) * n_eval * attack_steps
                + trials * n_rho * attack_steps) * step / scale
    return {"unit": unit, "cell": own, "shared": shared}


def estimate_total(cells: list[Cell]) -> dict:
    """Sum of cell estimates per unit, counting each shared full-network training once."""
    totals, shared_seen = {}, set()
    for cell in cells:
        cost = estimate_cost(cell.parameters)
        if cost is None:
            continue
        add = cost["cell"] + sum(v for k, v in cost["shared"].items() if k not in shared_seen)
        shared_seen.update(cost["shared"])
        totals[cost["unit"]] = totals.get(cost["unit"], 0.0) + add
    return totals


# --------------------------------------------------------------------------------------------
# One cell (runs in a worker process or a submitit job)
# --------------------------------------------------------------------------------------------

def _paths(out_dir: Path, cell_id: str) -> dict:
    return {"notebook": out_dir / f"{cell_id}.ipynb", "log": out_dir / "logs" / f"{cell_id}.log",
            "cwd": out_dir / "files" / cell_id,
            "partial": out_dir / ".partial" / f"{cell_id}.{os.getpid()}.ipynb",
            "failed_nb": out_dir / "failed" / f"{cell_id}.ipynb", "failed": out_dir / "failed" / f"{cell_id}.json"}


def run_cell(spec: dict) -> dict:
    """Execute one cell with papermill and record it; returns an outcome dict (never raises on a
    notebook error). ``spec``: notebook, notebook_id, parameters, cell_id, out_dir, results_root,
    attempt, kernel (or None), grid."""
    out_dir = Path(spec["out_dir"])
    paths = _paths(out_dir, spec["cell_id"])
    for key in ("log", "partial", "failed"):
        paths[key].parent.mkdir(parents=True, exist_ok=True)
    paths["cwd"].mkdir(parents=True, exist_ok=True)  # relative outputs of the notebook (figures) land here
    os.environ["SEMIROBUST_RESULTS"] = str(spec["results_root"])  # the notebook's own records go there too
    start = time.time()
    outcome = {"cell_id": spec["cell_id"], "attempt": spec["attempt"], "log": str(paths["log"])}
    with open(paths["log"], "a", encoding="utf-8") as log:
        log.write(f"=== attempt {spec['attempt']} started {datetime.now(UTC).isoformat()} on "
                  f"{os.uname().nodename} pid {os.getpid()}\n=== parameters {json.dumps(spec['parameters'])}\n")
        log.flush()
        try:
            import papermill

            papermill.execute_notebook(spec["notebook"], str(paths["partial"]), parameters=spec["parameters"],
                                       kernel_name=spec.get("kernel"), cwd=str(paths["cwd"]),
                                       progress_bar=False, stdout_file=log, stderr_file=log)
        except Exception as err:  # a notebook error must not stop the other cells
            log.write(f"=== attempt {spec['attempt']} FAILED after {time.time() - start:.1f}s\n{traceback.format_exc()}")
            if paths["partial"].exists():
                os.replace(paths["partial"], paths["failed_nb"])
            error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
            outcome.update(status="failed", error=error, wall_time_s=time.time() - start,
                           failed_notebook=str(paths["failed_nb"]))
            atomic_write_text(paths["failed"], json.dumps({**outcome, "parameters": spec["parameters"]}, indent=1))
            return outcome
        os.replace(paths["partial"], paths["notebook"])
        wall = time.time() - start
        log.write(f"=== attempt {spec['attempt']} finished in {wall:.1f}s -> {paths['notebook']}\n")
    import torch

    params = spec["parameters"]
    config = {"notebook": spec["notebook_id"], "parameters": params}
    ResultsStore(spec["results_root"]).write(
        CELL_KIND, config, {"notebook": str(paths["notebook"]), "log": str(paths["log"]), "files": str(paths["cwd"]),
                            "attempt": spec["attempt"]},
        profile=str(params.get("profile", "n/a")), seed=params.get("seed"), wall_time_s=wall,
        device=describe_device("cuda" if torch.cuda.is_available() else "cpu"),
        extra={"grid": spec.get("grid"), "out_dir": str(out_dir)})
    for key in ("failed", "failed_nb"):  # an earlier failed attempt of this cell is superseded (its log stays)
        paths[key].unlink(missing_ok=True)
    for stale in paths["partial"].parent.glob(f"{spec['cell_id']}.*.ipynb"):  # left by killed attempts
        stale.unlink(missing_ok=True)
    outcome.update(status="finished", notebook=str(paths["notebook"]), wall_time_s=wall)
    return outcome


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _worker_main(argv: list[str]) -> int:
    """``python -m semirobust.pipeline.sweep SPEC.json OUTCOME.json``: the local executor's worker."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # so papermill shuts its kernel down
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    outcome = run_cell(spec)
    atomic_write_text(argv[1], json.dumps(outcome))
    return 0


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------

class LocalLauncher:
    """Runs each cell in its own ``python -m semirobust.pipeline.sweep`` process, ``workers`` at a time."""

    poll_s = 0.2

    def __init__(self, workers: int, jobs_dir: Path):
        self.slots = workers
        self.jobs_dir = jobs_dir

    def launch(self, specs: list[dict]) -> list:
        handles = []
        for spec in specs:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            spec_path = self.jobs_dir / f"{spec['cell_id']}.spec.json"
            outcome_path = self.jobs_dir / f"{spec['cell_id']}.outcome.json"
            outcome_path.unlink(missing_ok=True)
            atomic_write_text(spec_path, json.dumps(spec))
            log = open(Path(spec["out_dir"]) / "logs" / f"{spec['cell_id']}.log", "a", encoding="utf-8")
            proc = subprocess.Popen([sys.executable, "-m", "semirobust.pipeline.sweep", str(spec_path), str(outcome_path)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            handles.append((proc, outcome_path, spec))
        return handles

    @staticmethod
    def done(handle) -> bool:
        return handle[0].poll() is not None

    @staticmethod
    def outcome(handle) -> dict:
        proc, outcome_path, spec = handle
        if outcome_path.exists():
            outcome = json.loads(outcome_path.read_text(encoding="utf-8"))
            outcome_path.unlink()
            (outcome_path.parent / f"{spec['cell_id']}.spec.json").unlink(missing_ok=True)
            return outcome
        return {"cell_id": spec["cell_id"], "attempt": spec["attempt"], "status": "failed",
                "error": f"worker exited with code {proc.returncode} without an outcome",
                "log": str(Path(spec["out_dir"]) / "logs" / f"{spec['cell_id']}.log")}

    @staticmethod
    def cancel(handles) -> None:
        for proc, _, _ in handles:
            if proc.poll() is None:
                proc.terminate()
        for proc, _, _ in handles:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class SubmititLauncher:
    """Submits cells through a submitit executor (local or SLURM); a round is one job array."""

    def __init__(self, executor, slots: int, poll_s: float):
        self.executor = executor
        self.slots = slots
        self.poll_s = poll_s

    def launch(self, specs: list[dict]) -> list:
        with self.executor.batch():
            jobs = [self.executor.submit(run_cell, spec) for spec in specs]
        return list(zip(jobs, specs))

    @staticmethod
    def done(handle) -> bool:
        return handle[0].done()

    @staticmethod
    def outcome(handle) -> dict:
        job, spec = handle
        try:
            return job.result()
        except Exception as err:  # the job itself died (time limit, memory, node failure)
            return {"cell_id": spec["cell_id"], "attempt": spec["attempt"], "status": "failed",
                    "error": f"submitit job {job.job_id} failed: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}",
                    "log": str(Path(spec["out_dir"]) / "logs" / f"{spec['cell_id']}.log"),
                    "job_stderr": str(job.paths.stderr)}

    @staticmethod
    def cancel(handles) -> None:
        for job, _ in handles:
            if not job.done():
                job.cancel(check=False)


def slurm_parameters(grid_slurm: dict, overrides: dict, job_name: str) -> dict:
    """``submitit.AutoExecutor.update_parameters`` keywords from a grid's slurm section and CLI
    overrides (CLI wins; None means not given)."""
    merged = {**grid_slurm, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - set(SLURM_KEYS))
    if unknown:
        raise ValueError(f"Unknown slurm option(s) {unknown}; allowed: {', '.join(SLURM_KEYS)}.")
    for key in ("gpus_per_job", "cpus_per_job", "time_min", "array_parallelism"):
        if key in merged and (isinstance(merged[key], bool) or not isinstance(merged[key], int) or merged[key] < (0 if key == "gpus_per_job" else 1)):
            raise ValueError(f"slurm {key}={merged[key]!r} must be a whole number ({'>= 0' if key == 'gpus_per_job' else '>= 1'}).")
    if "mem_gb" in merged and (not isinstance(merged["mem_gb"], (int, float)) or merged["mem_gb"] <= 0):
        raise ValueError(f"slurm mem_gb={merged['mem_gb']!r} must be a positive number.")
    if "additional_parameters" in merged and not isinstance(merged["additional_parameters"], dict):
        raise ValueError("slurm additional_parameters must be a mapping of sbatch option: value.")
    if "setup" in merged and not (isinstance(merged["setup"], list) and all(isinstance(s, str) for s in merged["setup"])):
        raise ValueError("slurm setup must be a list of shell lines run before each job.")
    params = {"name": job_name}
    params.update({SLURM_KEYS[k]: v for k, v in merged.items()})
    return params


def make_executor(kind: str, folder: Path, *, slurm: dict | None = None, job_name: str = "semirobust"):
    """The submitit executor for ``kind`` ("submitit-local" or "slurm"), configured as asked."""
    import submitit

    if kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=str(folder / "%j"))
        executor.update_parameters(timeout_min=int((slurm or {}).get("time_min", 60 * 24)))
        return executor
    if kind == "slurm":
        params = slurm_parameters(slurm or {}, {}, job_name)
        try:
            executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster="slurm")
        except RuntimeError as err:
            raise ValueError(f"--executor slurm needs a SLURM cluster (submitit: {err}); run the sweep on a login "
                             "node, or use --executor local / submitit-local here.") from err
        executor.update_parameters(**params)
        return executor
    raise ValueError(f"Unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}.")


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------

def cell_state(cell: Cell, store: ResultsStore, out_dir: Path) -> str:
    """``done`` (finished record in the store), ``failed`` (last attempt failed) or ``pending``."""
    if store.read(CELL_KIND, cell.config) is not None:
        return "done"
    return "failed" if _paths(out_dir, cell.cell_id)["failed"].exists() else "pending"


def plan(grid: Grid, store: ResultsStore, out_dir: Path) -> list[dict]:
    """Every cell with its state, paths and rough cost (what ``--dry-run`` prints)."""
    rows = []
    for cell in grid.cells():
        state = cell_state(cell, store, out_dir)
        row = {"cell": cell, "state": state, "cost": estimate_cost(cell.parameters)}
        if state == "done":
            row["record"] = store.read(CELL_KIND, cell.config)
        if state == "failed":
            row["log"] = str(_paths(out_dir, cell.cell_id)["log"])
        rows.append(row)
    return rows


def _spec(cell: Cell, grid: Grid, out_dir: Path, store: ResultsStore, attempt: int, kernel: str | None) -> dict:
    return {"notebook": str(cell.notebook), "notebook_id": cell.notebook_id, "parameters": cell.parameters,
            "cell_id": cell.cell_id, "out_dir": str(out_dir.resolve()), "results_root": str(store.root.resolve()),
            "attempt": attempt, "kernel": kernel, "grid": grid.name}


def run_sweep(grid: Grid, *, executor: str = "local", workers: int = 1, retries: int = 1,
              out_dir: str | os.PathLike | None = None, results_root: str | os.PathLike | None = None,
              kernel: str | None = None, slurm: dict | None = None, progress: bool = True) -> list[dict]:
    """Run every cell of ``grid`` that has no finished record; retry failures up to ``retries``
    times. Returns one summary row per cell (state done / finished / failed, attempts, paths)."""
    if executor not in EXECUTORS:
        raise ValueError(f"Unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} must be an integer >= 1.")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r} must be an integer >= 0.")
    from tqdm import tqdm

    store = ResultsStore(results_root)
    out = Path(out_dir) if out_dir is not None else Path("sweeps") / grid.name
    slurm_opts = {**grid.slurm, **(slurm or {})}
    if executor == "local":
        launcher = LocalLauncher(workers, out / ".jobs")
    else:
        ex = make_executor(executor, out / "submitit", slurm=slurm_opts, job_name=f"semirobust-{grid.name}")
        launcher = SubmititLauncher(ex, slots=workers if executor == "submitit-local" else 10**9,
                                    poll_s=0.5 if executor == "submitit-local" else 15.0)

    rows = {cell.cell_id: {"cell": cell, "state": cell_state(cell, store, out), "attempts": 0} for cell in grid.cells()}
    queue = [cid for cid, row in rows.items() if row["state"] != "done"]
    for cid in queue:
        rows[cid]["state"] = "pending"
    (out / "logs").mkdir(parents=True, exist_ok=True)
    in_flight = []
    bar = tqdm(total=len(queue), desc=f"sweep {grid.name}", unit="cell", disable=not progress, file=sys.stderr)
    try:
        while queue or in_flight:
            free = launcher.slots - len(in_flight)
            if queue and free > 0:
                batch, queue = queue[:free], queue[free:]
                specs = []
                for cid in batch:
                    rows[cid]["attempts"] += 1
                    rows[cid]["state"] = "running"
                    specs.append(_spec(rows[cid]["cell"], grid, out, store, rows[cid]["attempts"], kernel))
                in_flight.extend(launcher.launch(specs))
            still = []
            for handle in in_flight:
                if not launcher.done(handle):
                    still.append(handle)
                    continue
                outcome = launcher.outcome(handle)
                row = rows[outcome["cell_id"]]
                row["outcome"] = outcome
                if outcome["status"] == "finished":
                    row["state"] = "finished"
                    bar.update(1)
                elif row["attempts"] <= retries:
                    row["state"] = "retrying"
                    queue.append(outcome["cell_id"])
                else:
                    row["state"] = "failed"
                    bar.update(1)
                bar.set_postfix(failed=sum(r["state"] == "failed" for r in rows.values()))
            in_flight = still
            if in_flight:
                time.sleep(launcher.poll_s)
    except KeyboardInterrupt:
        launcher.cancel(in_flight)
        raise
    finally:
        bar.close()
    return list(rows.values())


def format_plan(rows: list[dict]) -> str:
    """The ``--dry-run`` table: state, cell, rough cost, and the totals still to run."""
    lines = [f"{'state':8} {'est. cost':>14}  cell"]
    for row in rows:
        cost = row["cost"]
        text = f"{cost['cell']:.3g} {cost['unit']}" if cost else "n/a"
        extra = f"  (log: {row['log']})" if row.get("log") else ""
        lines.append(f"{row['state']:8} {text:>14}  {row['cell'].cell_id}{extra}")
    todo = [row["cell"] for row in rows if row["state"] != "done"]
    counts = {s: sum(r["state"] == s for r in rows) for s in ("done", "pending", "failed")}
    lines.append(f"{len(rows)} cells: {counts['done']} done, {counts['pending']} pending, {counts['failed']} failed.")
    totals = estimate_total(todo)
    if totals:
        spent = ", ".join(f"{value:.3g} {unit}" for unit, value in totals.items())
        lines.append(f"Estimated cost of the {len(todo)} cells to run: {spent} (ROUGH estimate: profile epochs x "
                     "data size x counted model FLOPs at an assumed throughput, full-network training counted once "
                     "per model/data set/profile/seed, no early stop, compute only; see semirobust.pipeline.sweep.estimate_cost).")
    return "\n".join(lines)


def format_summary(rows: list[dict]) -> str:
    """The final table of a sweep: one line per cell, failures with their log path."""
    lines = [f"{'state':8} {'tries':>5} {'wall_s':>8}  cell / output"]
    for row in rows:
        outcome = row.get("outcome") or {}
        wall = f"{outcome['wall_time_s']:.1f}" if "wall_time_s" in outcome else "-"
        where = {"finished": outcome.get("notebook"), "failed": f"log: {outcome.get('log')}  error: {outcome.get('error')}",
                 "done": "already finished (skipped)"}.get(row["state"], "")
        lines.append(f"{row['state']:8} {row['attempts'] or '-':>5} {wall:>8}  {row['cell'].cell_id}\n{'':25}{where}")
    counts = {s: sum(r["state"] == s for r in rows) for s in ("done", "finished", "failed")}
    lines.append(f"{len(rows)} cells: {counts['finished']} finished now, {counts['done']} already done, "
                 f"{counts['failed']} failed.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))


__all__ = ["CELL_KIND", "EXECUTORS", "GRID_KEYS", "SLURM_KEYS", "Cell", "Grid", "notebook_parameters",
           "load_grid", "DATASET_SIZES", "ASSUMED_GPU_FLOPS", "ASSUMED_CPU_FLOPS", "forward_flops",
           "estimate_cost", "estimate_total", "run_cell", "LocalLauncher", "SubmititLauncher",
           "slurm_parameters", "make_executor", "cell_state", "plan", "run_sweep", "format_plan",
           "format_summary"]
