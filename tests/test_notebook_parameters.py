"""Unknown papermill parameters stop a notebook right after its parameters cell, before any compute."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from semirobust.experiments.report.notebook import assigned_names, check_parameters, reject_unknown_parameters

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
AUTHOR = '# Parameters (papermill)\nmodel = "vgg16"  # a comment\ndataset = "digits"\nk: float = None\nprofile = "offline"\n'
CHECK = "check_parameters(globals())"


def _history(*injected: str) -> list[str]:
    """IPython's ``_ih`` as papermill leaves it when the check cell runs: '', the author's cell, papermill's, the check."""
    return ["", AUTHOR, *injected, CHECK]


def test_a_misspelled_parameter_stops_with_the_closest_name():
    with pytest.raises(ValueError, match=r"^unknown parameter 'modle'; did you mean 'model'\?$"):
        reject_unknown_parameters({"_ih": _history('# Parameters\nmodle = "vgg16"\nprofile = "smoke"\n')})
    with pytest.raises(ValueError, match="unknown parameter 'zzz'; the notebook's parameters are model, dataset, k"):
        reject_unknown_parameters({"_ih": _history("# Parameters\nzzz = 1\n")})


def test_declared_parameters_or_no_injected_cell_pass():
    reject_unknown_parameters({"_ih": _history('# Parameters\nmodel = "alexnet"\nk = 0.5\n')})
    reject_unknown_parameters({"_ih": _history()})  # run by hand: nothing injected, nothing to check
    reject_unknown_parameters({})  # no IPython history at all
    # the author's own cell starts with "# Parameters (papermill)": not papermill's exact first line
    reject_unknown_parameters({"_ih": ["", AUTHOR.replace("model", "modle"), CHECK]})


def test_assigned_names_reads_the_cell_with_ast():
    assert assigned_names(AUTHOR) == ["model", "dataset", "k", "profile"]
    assert assigned_names("a = b = 1\nc, d = 2, 3\nprint(e)\n") == ["a", "b", "c", "d"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_checks_its_parameters_right_after_the_parameters_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"
    following = cells[tagged[0] + 1]
    assert following.cell_type == "code" and CHECK in following.source
    assert "from semirobust.experiments.report.notebook import check_parameters" in following.source
    assert not following.get("outputs")  # stored without outputs


def test_check_parameters_also_checks_the_output_folders(tmp_path):
    """The check cell stops a run whose output folder cannot be written, naming the parameter, before compute."""
    a_file = tmp_path / "taken"
    a_file.write_text("")
    with pytest.raises(ValueError, match=r"figures_dir='.*taken' is a file, not a folder"):
        check_parameters({"_ih": _history(), "figures_dir": str(a_file)})
    with pytest.raises(ValueError, match=r"results_dir='.*taken/sub' cannot be created"):
        check_parameters({"_ih": _history(), "results_dir": str(a_file / "sub"), "figures_dir": None})
    check_parameters({"_ih": _history(), "figures_dir": str(tmp_path / "figures"), "results_dir": None})
    assert (tmp_path / "figures").is_dir()
    with pytest.raises(ValueError, match="unknown parameter 'modle'"):  # unknown names first, folders after
        check_parameters({"_ih": _history('# Parameters\nmodle = "vgg16"\n'), "figures_dir": str(a_file)})
