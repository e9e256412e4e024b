"""The ``semirobust`` command line: run, sweep (dry run, bad input), merge-results."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from semirobust.pipeline.cli import build_parser, main, parse_value
from semirobust.pipeline.sweep import CELL_KIND, load_grid
from semirobust.results import ResultsStore

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny.ipynb"
GRID = FIXTURES / "tiny_grid.yaml"


def test_help_lists_the_subcommands():
    text = build_parser().format_help()
    assert all(name in text for name in ("run", "sweep", "merge-results"))


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("True", True), ("False", False), ("None", None),
                                         ("vgg16", "vgg16"), ("8/255", "8/255")])
def test_parse_value_like_papermill(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@pytest.mark.slow
def test_run_executes_one_notebook_with_parameters(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the fixture notebook writes result.txt into the working folder
    out = tmp_path / "out.ipynb"
    assert main(["run", str(TINY), str(out), "-p", "x", "5"]) == 0
    nb = nbformat.read(out, as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "y = 10" in printed
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.slow
def test_run_writes_its_notebook_only_once_it_finished(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.ipynb"
    assert main(["run", str(TINY), str(out), "-p", "x", "3", "-p", "fail", "True"]) == 1
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))  # no notebook that looks complete
    failed = tmp_path / "out.failed.ipynb"
    assert "asked to fail" in failed.read_text() and str(failed) in capsys.readouterr().err


def test_run_rejects_unknown_parameter_before_running(tmp_path, capsys):
    out = tmp_path / "out.ipynb"
    assert main(["run", str(TINY), str(out), "-p", "model", "vgg16"]) == 2
    assert "Unknown parameter(s) ['model']" in capsys.readouterr().err
    assert not out.exists()


def test_sweep_dry_run_lists_states_and_runs_nothing(tmp_path, capsys):
    out, results = tmp_path / "out", tmp_path / "results"
    first = load_grid(GRID).cells()[0]
    ResultsStore(results).write(CELL_KIND, first.config, {"notebook": "elsewhere.ipynb"}, profile="n/a", seed=None,
                                device="cpu", wall_time_s=1.0)
    assert main(["sweep", str(GRID), "--dry-run", "--out", str(out), "--results", str(results)]) == 0
    text = capsys.readouterr().out
    lines = [line.split()[0] for line in text.splitlines()[1:4]]
    assert lines == ["done", "pending", "pending"]
    assert "3 cells: 1 done, 2 pending, 0 failed." in text
    assert not out.exists()


def test_dry_run_prints_a_rough_cost_estimate(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "model = 'alexnet'\ndataset = 'digits'\nattack = 'fgsm'\neps = 8 / 255\nprofile = 'smoke'\nseed = 0",
        metadata={"tags": ["parameters"]})])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "t1.ipynb")
    (tmp_path / "g.yaml").write_text("notebook: t1.ipynb\nparameters: {dataset: digits, profile: smoke}\n"
                                     "axes: {model: [alexnet, vgg16]}\n")
    assert main(["sweep", str(tmp_path / "g.yaml"), "--dry-run", "--out", str(tmp_path / "o"),
                 "--results", str(tmp_path / "r")]) == 0
    text = capsys.readouterr().out
    assert text.count("CPU-min") == 3 and "ROUGH estimate" in text


@pytest.mark.parametrize("grid_text, message", [
    ("notebook: NOTEBOOK\naxes: {model: [vgg16]}\n", "unknown parameter"),
    ("notebook: NOTEBOOK\naxes: {x: []}\n", "empty"),
    ("notebook: nowhere.ipynb\n", "unknown notebook"),
])
def test_malformed_grid_exits_2_before_anything_runs(tmp_path, capsys, grid_text, message):
    grid = tmp_path / "bad.yaml"
    grid.write_text(grid_text.replace("NOTEBOOK", str(TINY)))
    assert main(["sweep", str(grid), "--out", str(tmp_path / "out"), "--results", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "r").exists()


def test_slurm_problems_exit_2_before_anything_runs(tmp_path, capsys, monkeypatch):
    args = ["sweep", str(GRID), "--executor", "slurm", "--out", str(tmp_path / "out"), "--results", str(tmp_path / "r")]
    assert main(args + ["--gpus-per-job", "-1"]) == 2
    assert "gpus_per_job" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun: not a cluster
    assert main(args) == 2
    assert "needs a SLURM cluster" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_merge_results_command(tmp_path, capsys):
    src, dst = tmp_path / "cluster", tmp_path / "local"
    record = ResultsStore(src).write("table1", {"arch": "vgg16"}, {"acc": 51.0}, profile="paper", seed=0,
                                     device="cuda:0 (NVIDIA H100)", wall_time_s=3600.0)
    assert main(["merge-results", str(src), "--into", str(dst)]) == 0
    assert "1 added" in capsys.readouterr().out
    assert ResultsStore(dst).read("table1", {"arch": "vgg16"})["created_at"] == record["created_at"]
    assert main(["merge-results", str(tmp_path / "missing"), "--into", str(dst)]) == 2
    assert "does not exist" in capsys.readouterr().err
