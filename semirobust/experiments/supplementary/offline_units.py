"""The offline build's units, old settings against new: the efficiency page's reading of
``benchmarks/bench_offline_units.py``.

That benchmark (another concern than the frozen-f_a step) times four units of the offline build with the attacks on
the network as built ("old") and on its BatchNorm-folded view ("new") and writes
``benchmarks/results/bench_offline_units.json``: per unit ``units.<name>.ratio`` (old time / new time) and
``peak_fraction`` (achieved GFLOP/s of the new settings over this machine's matmul peak), with ``date``, ``cpu`` and
``threads``. Here it becomes the page's glued speed-ups and one sentence; a missing file is said as such.
"""
from __future__ import annotations

import json
from pathlib import Path

from semirobust.utils import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
RESULT_FILE = "bench_offline_units.json"
#: the units whose speed-up the page glues as ``unit_speedup_<name>``
GLUED_UNITS = ("train_epoch", "trial_epoch", "scoring")
UNIT_NAMES = {"train_epoch": "a PGD-5 training epoch", "trial_epoch": "a trial epoch", "scoring": "the scoring attack",
              "after_trials": "the work after the trials"}
NOT_MEASURED = "not measured"


def load_units(results_dir=None) -> dict | None:
    """The JSON ``benchmarks/bench_offline_units.py`` wrote, or None when absent."""
    path = Path(results_dir or RESULTS_DIR) / RESULT_FILE
    return json.loads(path.read_text()) if path.exists() else None


def best_unit(report: dict) -> tuple[str, float] | None:
    """The unit closest to the machine's peak and its fraction of peak (None: no unit has one)."""
    fractions = {name: unit.get("peak_fraction") for name, unit in report.get("units", {}).items()}
    measured = {name: f for name, f in fractions.items() if f is not None}
    if not measured:
        return None
    name = max(measured, key=measured.get)
    return name, measured[name]


def unit_values(report: dict | None) -> dict:
    """The page's glued values: ``unit_speedup_<unit>`` (old/new, 2 decimals) for :data:`GLUED_UNITS`,
    ``unit_peak_fraction`` (the best unit's fraction of peak as a percent, text) and ``unit_sentence``;
    "not measured" throughout when the report is absent."""
    values = {f"unit_speedup_{name}": NOT_MEASURED for name in GLUED_UNITS}
    values["unit_peak_fraction"] = NOT_MEASURED
    if report is not None:
        for name in GLUED_UNITS:
            unit = report.get("units", {}).get(name)
            if unit is not None and unit.get("ratio") is not None:
                values[f"unit_speedup_{name}"] = round(float(unit["ratio"]), 2)
        best = best_unit(report)
        if best is not None:
            values["unit_peak_fraction"] = f"{100 * best[1]:.1f}%"
    values["unit_sentence"] = unit_sentence(report)
    return values


def unit_sentence(report: dict | None) -> str:
    """Where and when the units were timed, or that they were not."""
    if report is None:
        return (f"benchmarks/results/{RESULT_FILE} is not committed, so the offline build's units were not measured "
                "here (python benchmarks/bench_offline_units.py writes it, about 6 minutes on 2 cores).")
    best = best_unit(report)
    peak = "" if best is None else (f"; the closest to the machine's peak ({report['peak_gflops']:.0f} GFLOP/s) is "
                                    f"{UNIT_NAMES.get(best[0], best[0])} at {100 * best[1]:.1f}% of it")
    return (f"Timed by benchmarks/bench_offline_units.py on {report.get('cpu') or report.get('machine')} with "
            f"{report.get('threads')} thread(s) on {str(report.get('date', 'an unknown date'))[:10]} (old: attacks on "
            f"the network as built; new: on its BatchNorm-folded view; ratios old time / new time){peak}.")


__all__ = ["RESULTS_DIR", "RESULT_FILE", "GLUED_UNITS", "UNIT_NAMES", "NOT_MEASURED", "load_units", "best_unit",
           "unit_values", "unit_sentence"]
