"""One cell of a sweep, run in a worker process or a submitit job: papermill, then the ``sweep_cell`` record."""
from __future__ import annotations

import json
import os
import signal
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from semirobust.pipeline.grid import CELL_KIND
from semirobust.results import ResultsStore, describe_device
from semirobust.utils import atomic_write_text


def cell_paths(out_dir: Path, cell_id: str) -> dict:
    """Where one cell's files go under the sweep's ``out_dir``: executed notebook, log, working folder, the
    partial notebook of a running attempt, and the failed notebook and its record."""
    return {"notebook": out_dir / f"{cell_id}.ipynb", "log": out_dir / "logs" / f"{cell_id}.log",
            "cwd": out_dir / "files" / cell_id,
            "partial": out_dir / ".partial" / f"{cell_id}.{os.getpid()}.ipynb",
            "failed_nb": out_dir / "failed" / f"{cell_id}.ipynb", "failed": out_dir / "failed" / f"{cell_id}.json"}


def run_cell(spec: dict) -> dict:
    """Execute one cell with papermill and record it; returns an outcome dict (never raises on a
    notebook error). ``spec``: notebook, notebook_id, parameters, cell_id, out_dir, results_root,
    attempt, kernel (or None), grid."""
    out_dir = Path(spec["out_dir"])
    paths = cell_paths(out_dir, spec["cell_id"])
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
            # a ValueError is bad input (the library's validation): the same cell would fail the same way again
            bad_input = isinstance(err, ValueError) or getattr(err, "ename", None) == "ValueError"
            outcome.update(status="failed", error=error, wall_time_s=time.time() - start,
                           failed_notebook=str(paths["failed_nb"]), retry=not bad_input)
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


def worker_main(argv: list[str]) -> int:
    """``python -m semirobust.pipeline.sweep SPEC.json OUTCOME.json``: the local executor's worker."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # so papermill shuts its kernel down
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    outcome = run_cell(spec)
    atomic_write_text(argv[1], json.dumps(outcome))
    return 0


__all__ = ["cell_paths", "run_cell", "worker_main"]
