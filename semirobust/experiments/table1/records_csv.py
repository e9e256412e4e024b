"""The numbers behind the Table 1 page as CSV files a reader can download and check: every interval on the page
is recomputed from them with plain pandas and scipy (``tests/test_records_csv.py`` does it).

Two files, written by the notebook into its ``data_dir`` (``data/`` beside the executed notebook, as figures go to
``figures/``; the page links them with ``{download}`` roles, so the book ships them):

* :data:`PER_SEED_FILE`, one row per seed: the reference networks (regular, robust: ``acc_star``), Acc_sr, and
  for every arm ``acc_tilde_<arm>`` (validation-selected, scored on the ``scored_images`` test images: Table 1's
  rule) and ``acc_tilde_<arm>_paper_rule`` (the paper's test-selected rule, on the per-epoch images), with the
  equivalence margin the page reads;
* :data:`PER_EPOCH_FILE`, one row per seed, arm, trial and epoch: accuracy under attack on the per-epoch test
  and validation images, the training loss and accuracy, and the learning rate.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from semirobust.experiments.table1.arms import ARMS
from semirobust.experiments.table1.arms_report import EQUIVALENCE_MARGIN, scored_images

PER_SEED_FILE = "table1_per_seed.csv"
PER_EPOCH_FILE = "table1_per_epoch.csv"
#: per-seed metrics of the reference networks, in the file's order.
REFERENCE_COLUMNS = ("acc_regular_clean", "acc_regular_attacked", "acc_star_clean", "acc_star", "acc_star_eval",
                     "acc_sr")
#: per-epoch columns of a trial's curve (``semirobust.experiments.table1.algorithm1``), in the file's order.
EPOCH_COLUMNS = ("epoch", "adv_acc", "val_acc", "train_loss", "train_acc", "lr")


def _arm_keys(arm: str) -> tuple[str, str]:
    """The per-seed record keys of an arm's validation-selected and test-selected accuracies."""
    if arm == "algorithm1":
        return "acc_tilde_unbiased", "acc_tilde"
    return f"acc_tilde_{arm}", f"acc_tilde_{arm}_paper"


def per_seed_frame(record: dict, margin: float = EQUIVALENCE_MARGIN) -> pd.DataFrame:
    """One row per seed of a ``table1`` record (see the module's docstring); an arm a seed did not run is blank."""
    m = record["metrics"]
    rows = []
    for seed, values in zip(m["seeds"], m["per_seed"]):
        row = {"seed": seed, "scored_images": scored_images(record), "equivalence_margin": float(margin),
               **{key: values.get(key) for key in REFERENCE_COLUMNS}}
        for arm in ARMS:
            selected, paper = _arm_keys(arm)
            row[f"acc_tilde_{arm}"] = values.get(selected)
            row[f"acc_tilde_{arm}_paper_rule"] = values.get(paper)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame[[c for c in frame.columns if frame[c].notna().any() or not c.startswith("acc_")]]


def per_epoch_frame(record: dict) -> pd.DataFrame:
    """One row per seed, arm, trial and epoch of a ``table1`` record: each trial's curve."""
    m = record["metrics"]
    rows = []
    for seed, values in zip(m["seeds"], m["per_seed"]):
        arms = values.get("arms") or {"algorithm1": {"trials": values.get("trials", [])}}
        for arm, run in arms.items():
            for trial in run.get("trials", []):
                for point in trial.get("curve", []):
                    rows.append({"seed": seed, "arm": arm, "trial": trial.get("trial"),
                                 **{key: point.get(key) for key in EPOCH_COLUMNS}})
    return pd.DataFrame(rows, columns=["seed", "arm", "trial", *EPOCH_COLUMNS])


def write_table1_csv(record: dict, data_dir: str | Path = "data") -> dict[str, Path]:
    """Write :data:`PER_SEED_FILE` and :data:`PER_EPOCH_FILE` of ``record`` into ``data_dir`` (created); returns
    ``{"per_seed": path, "per_epoch": path}``. Full precision, so a reader recomputes the page's numbers exactly."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"per_seed": folder / PER_SEED_FILE, "per_epoch": folder / PER_EPOCH_FILE}
    per_seed_frame(record).to_csv(paths["per_seed"], index=False)
    per_epoch_frame(record).to_csv(paths["per_epoch"], index=False)
    return paths


def relative_link(path: str | Path, start: str | Path = ".") -> str:
    """``path`` relative to ``start`` (the executed notebook's folder), with forward slashes: the link a page
    glues (``records_csv``), so no path of the build machine reaches a page."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


__all__ = ["relative_link", "PER_SEED_FILE", "PER_EPOCH_FILE", "REFERENCE_COLUMNS", "EPOCH_COLUMNS", "per_seed_frame",
           "per_epoch_frame", "write_table1_csv"]
