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

import os
import sys
import time
from pathlib import Path

from semirobust.config import check_choice, check_int
from semirobust.pipeline.cell import cell_paths, run_cell, worker_main
from semirobust.pipeline.grid import (
    CELL_KIND,
    EXECUTORS,
    GRID_KEYS,
    SLURM_KEYS,
    Cell,
    Grid,
    cell_configs,
    check_cells,
    load_grid,
    notebook_parameters,
)
from semirobust.pipeline.launchers import LocalLauncher, SubmititLauncher, make_executor, slurm_parameters
from semirobust.pipeline.sweep_estimate import (
    ASSUMED_CPU_FLOPS,
    ASSUMED_GPU_FLOPS,
    DATASET_SIZES,
    estimate_cost,
    estimate_total,
    forward_flops,
)
from semirobust.results import ResultsStore
from semirobust.utils import check_output_dir


def cell_state(cell: Cell, store: ResultsStore, out_dir: Path) -> str:
    """``done`` (finished record in the store), ``failed`` (last attempt failed) or ``pending``."""
    if store.read(CELL_KIND, cell.config) is not None:
        return "done"
    return "failed" if cell_paths(out_dir, cell.cell_id)["failed"].exists() else "pending"


def plan(grid: Grid, store: ResultsStore, out_dir: Path) -> list[dict]:
    """Every cell with its state, paths and rough cost (what ``--dry-run`` prints)."""
    rows = []
    for cell in grid.cells():
        state = cell_state(cell, store, out_dir)
        row = {"cell": cell, "state": state, "cost": estimate_cost(cell.parameters)}
        if state == "done":
            row["record"] = store.read(CELL_KIND, cell.config)
        if state == "failed":
            row["log"] = str(cell_paths(out_dir, cell.cell_id)["log"])
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
    times (never a cell that failed on bad input, a ValueError: it would fail the same way). Every cell's
    RunConfigs and both output folders are checked first. Returns one summary row per cell (state done /
    finished / failed, attempts, paths)."""
    check_choice("executor", executor, EXECUTORS)
    check_int("workers", workers)
    check_int("retries", retries, low=0)
    from tqdm import tqdm

    check_cells(grid)  # every cell's RunConfigs, before any cell runs
    store = ResultsStore(results_root)
    out = Path(out_dir) if out_dir is not None else Path("sweeps") / grid.name
    slurm_opts = {**grid.slurm, **(slurm or {})}
    if executor == "local":
        launcher = LocalLauncher(workers, out / ".jobs")
    else:
        ex = make_executor(executor, out / "submitit", slurm=slurm_opts, job_name=f"semirobust-{grid.name}")
        launcher = SubmititLauncher(ex, slots=workers if executor == "submitit-local" else 10**9,
                                    poll_s=0.5 if executor == "submitit-local" else 15.0)

    check_output_dir(store.root, "results_root")  # once the executor is known to start: nothing made before
    check_output_dir(out, "out_dir")
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
                elif row["attempts"] <= retries and outcome.get("retry", True):  # never bad input again
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
    sys.exit(worker_main(sys.argv[1:]))


__all__ = ["CELL_KIND", "EXECUTORS", "GRID_KEYS", "SLURM_KEYS", "Cell", "Grid", "notebook_parameters",
           "cell_configs", "check_cells", "load_grid", "DATASET_SIZES", "ASSUMED_GPU_FLOPS", "ASSUMED_CPU_FLOPS", "forward_flops",
           "estimate_cost", "estimate_total", "run_cell", "LocalLauncher", "SubmititLauncher",
           "slurm_parameters", "make_executor", "cell_state", "plan", "run_sweep", "format_plan",
           "format_summary"]
