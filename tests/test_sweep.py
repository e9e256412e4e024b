"""Sweeps over tiny fixture notebooks: grid validation, both local executors, retries, kill and
resume, SLURM configuration (without a cluster), rough cost estimates, and the real smoke grid."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from semirobust.pipeline.sweep import (
    CELL_KIND,
    estimate_cost,
    estimate_total,
    forward_flops,
    load_grid,
    make_executor,
    notebook_parameters,
    plan,
    run_sweep,
    slurm_parameters,
)
from semirobust.results import ResultsStore
from semirobust.utils import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny.ipynb"


def write_grid(folder: Path, text: str, name: str = "grid.yaml") -> Path:
    path = folder / name
    path.write_text(text.replace("NOTEBOOK", str(TINY)))
    return path


def outputs_text(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)


# ---------------------------------------------------------------------------- grid files

def test_parameter_names_come_from_the_parameters_cell():
    # papermill.inspect_notebook drops `x` (its line parser trips on the comment); ast does not
    assert notebook_parameters(TINY) == ["x", "fail", "wait_for"]


def test_fixture_grid_cells():
    grid = load_grid(FIXTURES / "tiny_grid.yaml")
    cells = grid.cells()
    assert grid.name == "tiny" and grid.notebook == TINY.resolve()
    assert [c.parameters for c in cells] == [{"x": 1, "fail": False}, {"x": 2, "fail": False}, {"x": 3, "fail": True}]
    assert cells[0].config == {"notebook": "tests/fixtures/tiny.ipynb", "parameters": {"x": 1, "fail": False}}
    assert len({c.hash for c in cells}) == len({c.cell_id for c in cells}) == 3


def test_axes_cross_and_zip(tmp_path):
    grid = load_grid(write_grid(tmp_path, "notebook: NOTEBOOK\nparameters: {wait_for: ''}\n"
                                          "axes:\n  x: [1, 2, 3]\n  fail: [false, true]\n"))
    cells = grid.cells()
    assert len(cells) == 6 and all(c.parameters["wait_for"] == "" for c in cells)
    assert [(c.parameters["x"], c.parameters["fail"]) for c in cells[:2]] == [(1, False), (1, True)]


@pytest.mark.parametrize("text, message", [
    ("notebook: missing.ipynb\n", "unknown notebook"),
    ("axes: {x: [1]}\n", "'notebook'"),
    ("notebook: NOTEBOOK\naxes: {x: []}\n", "empty"),
    ("notebook: NOTEBOOK\naxes: {x: 3}\n", "empty or not a list"),
    ("notebook: NOTEBOOK\naxes: {epochs: [1, 2]}\n", r"unknown parameter\(s\) \['epochs'\]"),
    ("notebook: NOTEBOOK\nparameters: {lr: 0.1}\n", r"unknown parameter\(s\) \['lr'\]"),
    ("notebook: NOTEBOOK\nparameters: {x: 1}\naxes: {x: [2]}\n", "set twice"),
    ("notebook: NOTEBOOK\naxes: {'x,fail': [[1, true], [2]]}\n", "needs 2 values"),
    ("notebook: NOTEBOOK\naxes: {x: [1, 1]}\n", "repeats"),
    ("notebook: NOTEBOOK\nresolution: 3\n", "unknown key"),
    ("notebook: NOTEBOOK\nslurm: {queue: gpu}\n", "slurm"),
    ("notebook: NOTEBOOK\naxes: {x: [1\n", "not valid YAML"),
    ("- just a list\n", "must be a mapping"),
])
def test_malformed_grid_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_grid(write_grid(tmp_path, text))


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "plain.ipynb")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        load_grid(write_grid(tmp_path, "notebook: plain.ipynb\n"))


def test_known_values_are_checked(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("model = 'vgg16'\ndataset = 'digits'",
                                                                    metadata={"tags": ["parameters"]})])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "m.ipynb")
    with pytest.raises(ValueError, match="unknown model 'lenet'"):
        load_grid(write_grid(tmp_path, "notebook: m.ipynb\naxes: {model: [vgg16, lenet]}\n"))


SHIPPED = sorted((REPO_ROOT / "grids").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_grids_are_valid(path):
    import yaml

    notebook = (path.parent / yaml.safe_load(path.read_text())["notebook"]).resolve()
    if not notebook.exists():
        pytest.skip(f"{notebook.relative_to(REPO_ROOT)} does not exist yet (written by the notebooks task)")
    grid = load_grid(path)
    assert grid.cells()


# ---------------------------------------------------------------------------- running sweeps

@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The fixture grid run once with the local executor, 2 workers, 1 retry."""
    root = tmp_path_factory.mktemp("local")
    grid = load_grid(FIXTURES / "tiny_grid.yaml")
    rows = run_sweep(grid, executor="local", workers=2, retries=1, out_dir=root / "out",
                     results_root=root / "results", progress=False)
    return grid, rows, root


@pytest.mark.slow
def test_local_sweep_runs_cells_and_reports_failure(local_run):
    grid, rows, root = local_run
    assert [r["state"] for r in rows] == ["finished", "finished", "failed"]
    store = ResultsStore(root / "results")
    for row, x in zip(rows[:2], (1, 2)):
        record = store.read(CELL_KIND, row["cell"].config)
        assert record["status"] == "finished" and record["metrics"]["attempt"] == 1
        executed = Path(record["metrics"]["notebook"])
        assert executed == root / "out" / f"{row['cell'].cell_id}.ipynb"
        assert f"y = {2 * x}" in outputs_text(executed)
        assert Path(record["metrics"]["log"]).is_file()
        # the notebook's relative outputs land in the cell's own folder, never shared with another cell
        assert (Path(record["metrics"]["files"]) / "result.txt").read_text() == str(2 * x)
    failed = rows[2]
    assert failed["attempts"] == 2  # retried once, then reported
    log = Path(failed["outcome"]["log"]).read_text()
    assert log.count("FAILED") == 2 and "asked to fail (x=3)" in log
    assert "asked to fail" in failed["outcome"]["error"]
    assert store.read(CELL_KIND, failed["cell"].config) is None
    assert not (root / "out" / f"{failed['cell'].cell_id}.ipynb").exists()
    assert "asked to fail" in json.dumps(nbformat.read(root / "out" / "failed" / f"{failed['cell'].cell_id}.ipynb", 4))


@pytest.mark.slow
def test_dry_run_states_after_a_sweep(local_run):
    grid, rows, root = local_run
    states = [row["state"] for row in plan(grid, ResultsStore(root / "results"), root / "out")]
    assert states == ["done", "done", "failed"]
    fresh = [row["state"] for row in plan(grid, ResultsStore(root / "elsewhere"), root / "out2")]
    assert fresh == ["pending"] * 3


@pytest.mark.slow
def test_submitit_local_executor(tmp_path):
    grid = load_grid(write_grid(tmp_path, "notebook: NOTEBOOK\naxes: {'x,fail': [[7, false], [8, true]]}\n"))
    rows = run_sweep(grid, executor="submitit-local", workers=2, retries=0, out_dir=tmp_path / "out",
                     results_root=tmp_path / "results", progress=False)
    assert [(r["state"], r["attempts"]) for r in rows] == [("finished", 1), ("failed", 1)]
    record = ResultsStore(tmp_path / "results").read(CELL_KIND, rows[0]["cell"].config)
    assert "y = 14" in outputs_text(Path(record["metrics"]["notebook"]))
    assert list((tmp_path / "out" / "submitit").rglob("*_result.pkl"))  # really went through submitit jobs


def bad_input_notebook(folder: Path) -> Path:
    """A notebook whose cell fails on bad input (a ValueError) when ``bad`` is true."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("bad = False", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("if bad:\n    raise ValueError('fb_layers=17 must be an integer in 1..8')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "bad.ipynb")
    return folder / "bad.ipynb"


@pytest.mark.slow
def test_bad_input_is_never_retried(tmp_path):
    bad_input_notebook(tmp_path)
    grid = load_grid(write_grid(tmp_path, "notebook: bad.ipynb\naxes: {bad: [true]}\n"))
    rows = run_sweep(grid, executor="local", workers=1, retries=2, out_dir=tmp_path / "out",
                     results_root=tmp_path / "results", progress=False)
    assert [(r["state"], r["attempts"]) for r in rows] == [("failed", 1)]
    assert rows[0]["outcome"]["retry"] is False and "ValueError" in rows[0]["outcome"]["error"]


@pytest.mark.slow
def test_killed_sweep_resumes_only_missing_cells(tmp_path):
    go = tmp_path / "go"
    grid_path = write_grid(tmp_path, f"notebook: NOTEBOOK\naxes:\n  'x,wait_for': [[1, ''], [2, '{go}']]\n")
    out, results = tmp_path / "out", tmp_path / "results"
    command = [sys.executable, "-m", "semirobust.pipeline.cli", "sweep", str(grid_path), "--out", str(out),
               "--results", str(results), "--no-progress"]
    store = ResultsStore(results)
    first, second = load_grid(grid_path).cells()
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while store.read(CELL_KIND, first.config) is None or not (out / "logs" / f"{second.cell_id}.log").exists():
            assert sweep.poll() is None and time.time() < deadline, "the sweep ended before its first cell finished"
            time.sleep(0.2)
        sweep.send_signal(signal.SIGTERM)
        output = sweep.communicate(timeout=60)[0]
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 130, output
    record = store.read(CELL_KIND, first.config)
    executed = Path(record["metrics"]["notebook"])
    mtime = executed.stat().st_mtime_ns
    assert store.read(CELL_KIND, second.config) is None and not (out / f"{second.cell_id}.ipynb").exists()

    go.touch()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 finished now, 1 already done, 0 failed" in rerun.stdout
    again = store.read(CELL_KIND, first.config)
    assert (again["created_at"], again["config_hash"]) == (record["created_at"], record["config_hash"])
    assert executed.stat().st_mtime_ns == mtime
    assert store.read(CELL_KIND, second.config)["metrics"]["notebook"] == str(out / f"{second.cell_id}.ipynb")
    assert not list((out / ".partial").iterdir())  # the killed attempt's partial notebook was cleaned up


# ---------------------------------------------------------------------------- SLURM configuration

@pytest.fixture
def fake_srun(tmp_path, monkeypatch):
    """An ``srun`` on PATH so submitit builds its SLURM executor here; it is never called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\necho 'not a cluster' >&2\nexit 1\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_slurm_executor_is_configured_as_asked(tmp_path, fake_srun):
    from submitit.slurm.slurm import _make_sbatch_string

    options = {"partition": "gpu", "gpus_per_job": 2, "cpus_per_job": 8, "time_min": 720, "mem_gb": 32,
               "array_parallelism": 4, "additional_parameters": {"account": "proj", "qos": "high"},
               "setup": ["source .venv/bin/activate"]}
    executor = make_executor("slurm", tmp_path / "submitit", slurm=options, job_name="semirobust-table1")
    params = executor._executor.parameters
    assert {k: params[k] for k in ("partition", "gpus_per_node", "cpus_per_task", "time", "mem", "array_parallelism",
                                   "job_name")} == {"partition": "gpu", "gpus_per_node": 2, "cpus_per_task": 8,
                                                    "time": 720, "mem": "32GB", "array_parallelism": 4,
                                                    "job_name": "semirobust-table1"}
    sbatch = executor._executor._make_submission_file_text("python -m submitit.core._submit x", "uid")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --time=720", "#SBATCH --mem=32GB", "#SBATCH --account=proj", "#SBATCH --qos=high",
                 "#SBATCH --job-name=semirobust-table1", "source .venv/bin/activate"):
        assert line in sbatch
    array = _make_sbatch_string(command="x", folder=tmp_path, map_count=10, **params)  # how a 10-cell round is sent
    assert "#SBATCH --array=0-9%4" in array


def test_slurm_needs_a_cluster_and_valid_options(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun here
    with pytest.raises(ValueError, match="needs a SLURM cluster"):
        make_executor("slurm", tmp_path, slurm={})
    for bad in ({"gpus_per_job": -1}, {"time_min": 0}, {"mem_gb": "lots"}, {"additional_parameters": ["x"]},
                {"setup": "one string"}, {"nodes": 2}):
        with pytest.raises(ValueError):
            slurm_parameters(bad, {}, "job")
    assert slurm_parameters({"partition": "a", "time_min": 5}, {"partition": "b"}, "j") == \
        {"name": "j", "slurm_partition": "b", "timeout_min": 5}


# ---------------------------------------------------------------------------- cost estimate

def test_rough_cost_estimate():
    base = {"model": "alexnet", "dataset": "digits", "attack": "pgd", "eps": "8/255", "profile": "smoke", "seed": 0}
    smoke = estimate_cost(base)
    key = ("alexnet", "digits", "smoke", 0)
    assert smoke["unit"] == "CPU-min" and smoke["cell"] > 0 and list(smoke["shared"]) == [key]
    assert estimate_cost({**base, "profile": "paper"})["unit"] == "GPU-h"
    assert estimate_cost({"x": 1}) is None
    # the per-arch factor is the counted forward FLOPs of the model at the profile's width
    vgg = estimate_cost({**base, "model": "vgg16"})
    ratio = forward_flops("vgg16", "digits", 0.125) / forward_flops("alexnet", "digits", 0.125)
    assert vgg["shared"][("vgg16", "digits", "smoke", 0)] / smoke["shared"][key] == pytest.approx(ratio)
    assert vgg["cell"] / smoke["cell"] == pytest.approx(ratio)
    # PGD at 16/255 takes 20 steps instead of 10: only the evaluation part grows
    assert estimate_cost({**base, "eps": "16/255"})["cell"] > smoke["cell"]
    assert estimate_cost({**base, "eps": 16 / 255})["cell"] == pytest.approx(estimate_cost({**base, "eps": "16/255"})["cell"])
    # list-valued cells (Figures 1 and 2) cost the sum of their Algorithm 1 runs
    two = estimate_cost({**base, "model": None, "models": "alexnet,vgg16"})
    assert two["cell"] == pytest.approx(smoke["cell"] + vgg["cell"]) and len(two["shared"]) == 2
    assert estimate_cost({**base, "fb_sizes": "2,4,6"})["cell"] == pytest.approx(3 * smoke["cell"])

    # the full-network training shared by cells of one model/data set/profile/seed is counted once
    class _Cell:
        def __init__(self, parameters):
            self.parameters = parameters

    fgsm = estimate_cost({**base, "attack": "fgsm"})
    total = estimate_total([_Cell(base), _Cell({**base, "attack": "fgsm"})])
    assert total["CPU-min"] == pytest.approx(smoke["cell"] + fgsm["cell"] + smoke["shared"][key])


# ---------------------------------------------------------------------------- the real smoke grid

@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """A trained-model cache shared by both executors' runs (the second reuses the first's networks)."""
    return tmp_path_factory.mktemp("model_cache")


@pytest.mark.slow
@pytest.mark.skipif(not (REPO_ROOT / "notebooks" / "table1.ipynb").exists(),
                    reason="notebooks/table1.ipynb does not exist yet (written by the notebooks task)")
@pytest.mark.parametrize("executor", ["local", "submitit-local"])
def test_real_smoke_grid(tmp_path, executor, model_cache, monkeypatch):
    monkeypatch.setenv("SEMIROBUST_CACHE", str(model_cache))  # inherited by the workers and jobs
    grid = load_grid(REPO_ROOT / "grids" / "smoke.yaml")
    rows = run_sweep(grid, executor=executor, workers=1, retries=0, out_dir=tmp_path / "out",
                     results_root=tmp_path / "results", progress=False)
    assert [r["state"] for r in rows] == ["finished"] * len(rows), [r.get("outcome") for r in rows]
    store = ResultsStore(tmp_path / "results")
    for row in rows:
        assert Path(store.read(CELL_KIND, row["cell"].config)["metrics"]["notebook"]).is_file()
    # the notebooks wrote their own Table 1 records into the same store, one per f_b size
    assert sorted(r["config"]["fb_layers"] for r in store.records("table1")) == \
        sorted(row["cell"].parameters["fb_layers"] for row in rows)
