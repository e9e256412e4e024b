"""Where a sweep's cells run: local worker processes or a submitit executor (local or SLURM)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from semirobust.config import check_int
from semirobust.pipeline.cell import run_cell
from semirobust.pipeline.grid import EXECUTORS, SLURM_KEYS
from semirobust.utils import atomic_write_text


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
        if key in merged:
            check_int(f"slurm {key}", merged[key], low=0 if key == "gpus_per_job" else 1)
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


__all__ = ["LocalLauncher", "SubmititLauncher", "slurm_parameters", "make_executor"]
