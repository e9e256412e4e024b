"""Figures 1 and 2 of the paper: rho of every layer pair of f_b against depth, from ``table1`` records.

The x axis is x in rho_{n-x}: x = 0 is the last pair of layers of f_b (rho_n) and
x = |f_b| - 1 the pair that joins f*_a to f_b (rho_{a+1}), as in the paper's figures.
Figure 1 draws one panel per model and one line per data set; Figure 2 one line per f_b size.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from semirobust.experiments.tables import DATASET_NAMES, MODEL_NAMES, attack_label
from semirobust.utils import atomic_write_bytes

X_LABEL = r"$x$ (layer pair $\rho_{n-x}$ of $f_b$; 0 = last pair)"
Y_LABEL = r"$\rho$ (bits)"
RHO_DEPTH_COLUMNS = ("Model", "Dataset", "f_b layers", "Attack", "x", "rho")


def rho_depth_frame(records: list[dict]) -> pd.DataFrame:
    """Long table of rho against depth: one row per (record, layer pair), x = 0 for rho_n."""
    rows = []
    for record in records:
        config, rho = record["config"], record["metrics"]["rho"]
        for x, value in enumerate(reversed(rho)):
            rows.append({"Model": MODEL_NAMES.get(config["arch"], config["arch"]),
                         "Dataset": DATASET_NAMES.get(config["dataset"], config["dataset"]),
                         "f_b layers": int(config["fb_layers"]), "Attack": config["attack"],
                         "x": x, "rho": float("nan") if value is None else float(value)})
    return pd.DataFrame(rows, columns=list(RHO_DEPTH_COLUMNS))


def _draw(ax, frame: pd.DataFrame, hue: str, title: str, legend_title: str, hue_order=None) -> None:
    """One panel: rho against x, one line (with markers) per value of ``hue``."""
    if frame.empty:
        ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes)
    else:
        sns.lineplot(data=frame, x="x", y="rho", hue=hue, style=hue, hue_order=hue_order,
                     style_order=hue_order, markers=True, dashes=False,
                     palette="colorblind", ax=ax, legend="full")
        ax.legend(title=legend_title)
        ax.set_xticks(sorted(frame["x"].unique()))
    ax.set_title(title)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)


def figure1(records: list[dict], models: list[str] | None = None, subtitle: str = "") -> plt.Figure:
    """Figure 1: one panel per model (in ``models`` order), one line per data set.

    Each model is drawn at the largest f_b size among its records, as the paper does.
    """
    frame = rho_depth_frame(records)
    names = [MODEL_NAMES.get(m, m) for m in models] if models else list(dict.fromkeys(frame["Model"]))
    if not names:
        raise ValueError("figure1 needs at least one model (no records and no models given).")
    fig, axes = plt.subplots(1, len(names), figsize=(4.8 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        panel = frame[frame["Model"] == name]
        if not panel.empty:
            largest = panel["f_b layers"].max()
            panel = panel[panel["f_b layers"] == largest]
            title = f"{name}, $f_b$ = {largest} layers"
        else:
            title = name
        _draw(ax, panel, "Dataset", title, "Data set")
    fig.suptitle("Connectivity rho of the layers of $f_b$" + (f" ({subtitle})" if subtitle else ""))
    fig.tight_layout()
    return fig


def figure2(records: list[dict], subtitle: str = "") -> plt.Figure:
    """Figure 2: one panel, one line per f_b size (records of one model and data set)."""
    frame = rho_depth_frame(records)
    if frame[["Model", "Dataset"]].drop_duplicates().shape[0] > 1:
        raise ValueError("figure2 draws one model on one data set; the records mix "
                         f"{frame[['Model', 'Dataset']].drop_duplicates().values.tolist()}.")
    frame = frame.assign(**{"f_b layers": frame["f_b layers"].astype(str)})
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    title = "" if frame.empty else f"{frame['Model'].iloc[0]} on {frame['Dataset'].iloc[0]}"
    order = [str(v) for v in sorted({int(v) for v in frame["f_b layers"]})]
    _draw(ax, frame, "f_b layers", title, "$f_b$ layers", hue_order=order)
    if subtitle:
        fig.suptitle(subtitle)
    fig.tight_layout()
    return fig


def trial_curves(record: dict) -> plt.Figure:
    """Adversarial test accuracy of (f*_a, f_b) per epoch of each trial of a ``table1`` record,
    starting from Acc_sr at epoch 0, with Acc* and the stopping threshold Acc* - k."""
    config, metrics = record["config"], record["metrics"]
    rows = []
    for trial in metrics["trials"]:
        rows.append({"Trial": str(trial["trial"]), "epoch": 0, "acc": metrics["acc_sr"]})
        rows.extend({"Trial": str(trial["trial"]), "epoch": p["epoch"], "acc": p["adv_acc"]} for p in trial["curve"])
    frame = pd.DataFrame(rows, columns=["Trial", "epoch", "acc"])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    sns.lineplot(data=frame, x="epoch", y="acc", hue="Trial", style="Trial", markers=True, dashes=False,
                 palette="colorblind", ax=ax)
    ax.axhline(metrics["acc_star"], color="black", linestyle="--", label="Acc* (f*_a, f*_b)")
    ax.axhline(metrics["acc_star"] - config["k"], color="grey", linestyle=":", label=f"Acc* - k (k = {config['k']:g})")
    ax.set_xticks(sorted(frame["epoch"].unique()))
    ax.set_xlabel("epoch of subnetwork adversarial training (0 = (f*_a, f_b), Acc_sr)")
    ax.set_ylabel(f"adversarial test accuracy (%), {attack_label(record)}")
    ax.set_title(f"{MODEL_NAMES.get(config['arch'], config['arch'])} on "
                 f"{DATASET_NAMES.get(config['dataset'], config['dataset'])}, $f_b$ = {config['fb_layers']} layers")
    ax.legend(title="Trial")
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` (format from the suffix, e.g. .png or .pdf) atomically; returns the path."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["rho_depth_frame", "figure1", "figure2", "trial_curves", "save_figure", "X_LABEL", "Y_LABEL"]
