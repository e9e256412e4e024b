"""Figures 1 and 2 of the paper: rho of every layer pair of f_b against depth, from ``table1`` records.

The x axis is x in rho_{n-x}: x = 0 is the last pair of layers of f_b (rho_n) and
x = |f_b| - 1 the pair that joins f*_a to f_b (rho_{a+1}), as in the paper's figures.
Figure 1 draws one panel per model and one line per data set; Figure 2 one line per f_b size.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from semirobust.config import DATASET_NAMES, MODEL_NAMES, mean_interval
from semirobust.experiments.display import as_sentence
from semirobust.experiments.tables import attack_label
from semirobust.utils import atomic_write_bytes

X_LABEL = r"$x$ (layer pair $\rho_{n-x}$ of $f_b$; 0 = last pair)"
Y_LABEL = r"$\rho$ (bits)"
RHO_DEPTH_COLUMNS = ("Model", "Dataset", "f_b layers", "Attack", "x", "rho")
#: Measures a figure can draw, with their axis labels: EDGE rho (the paper's), KSG on PCA, linear CKA.
MEASURE_LABELS = {"rho": r"$\rho$, EDGE (bits)", "ksg": "KSG on PCA (bits)", "cka": "linear CKA"}
_CALIBRATION = ("null_mean", "null_sd", "ceiling", "above_null")
#: the measures' names in running text (sentences are glued as plain text, so no LaTeX)
_PLAIN_NAMES = {"rho": "EDGE rho", "ksg": "KSG estimate", "cka": "linear CKA"}


def rho_depth_frame(records: list[dict]) -> pd.DataFrame:
    """Long table of rho against depth: one row per (record, layer pair), x = 0 for rho_n.

    Where a record holds the calibrated pairs (``metrics["rho_pairs"]``, one dict per pair from
    ``semirobust.rho.layer_rhos``), each measure's value and its null mean, sd, ceiling and
    above-null flag come along as ``<measure>``, ``<measure>_null_mean``, ...
    """
    rows = []
    for record in records:
        config, metrics = record["config"], record["metrics"]
        pairs = metrics.get("rho_pairs") or [{"rho": v} for v in metrics["rho"]]
        spread = _seed_intervals(metrics.get("per_seed") or [], len(pairs))
        for x, (pair, ci) in enumerate(zip(reversed(pairs), reversed(spread))):
            row = {"Model": MODEL_NAMES.get(config["arch"], config["arch"]),
                   "Dataset": DATASET_NAMES.get(config["dataset"], config["dataset"]),
                   "f_b layers": int(config["fb_layers"]), "Attack": config["attack"], "x": x}
            for measure in MEASURE_LABELS:
                if measure in pair:
                    value = pair[measure]
                    row[measure] = float("nan") if value is None else float(value)
                    row.update({f"{measure}_{f}": pair.get(f"{measure}_{f}") for f in _CALIBRATION})
                    row[f"{measure}_ci"] = ci.get(measure, math.nan)
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame if not frame.empty else pd.DataFrame(columns=list(RHO_DEPTH_COLUMNS))


def _seed_intervals(per_seed: list[dict], n_pairs: int) -> list[dict]:
    """Per pair, each measure's 95% t half-width over the seeds (NaN with fewer than two seeds)."""
    out = [{} for _ in range(n_pairs)]
    lists = [m.get("rho_pairs") for m in per_seed]
    if len(lists) < 2 or any(p is None or len(p) != n_pairs for p in lists):
        return out
    for j in range(n_pairs):
        for measure in MEASURE_LABELS:
            values = [p[j].get(measure) for p in lists]
            if all(v is not None for v in values):
                out[j][measure] = mean_interval(values)[1]
    return out


def _draw(ax, frame: pd.DataFrame, hue: str, title: str, legend_title: str, hue_order=None,
          measure: str = "rho") -> None:
    """One panel: a measure against x, one line per value of ``hue``; where calibrated, the
    permutation null (mean +- 2 sd, shaded) and the log2 N ceiling (dotted), and pairs that are
    not above their null drawn hollow."""
    if frame.empty or measure not in frame:
        ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes)
    else:
        palette = dict(zip(hue_order or list(dict.fromkeys(frame[hue])), sns.color_palette("colorblind")))
        for key, group in frame.groupby(hue, sort=False):
            group = group.sort_values("x")
            color = palette.get(key, "black")
            ax.plot(group["x"], group[measure], "-", color=color, label=str(key))
            ci = group.get(f"{measure}_ci")
            if ci is not None and ci.notna().any():  # mean over seeds +- 95% t half-width
                ax.errorbar(group["x"], group[measure], yerr=ci.astype(float), fmt="none", ecolor=color,
                            capsize=3, lw=1)
            above = group.get(f"{measure}_above_null")
            if above is not None and above.notna().any():
                flags = above.fillna(False).astype(bool)
                ax.plot(group["x"][flags], group[measure][flags], "o", color=color)
                ax.plot(group["x"][~flags], group[measure][~flags], "o", mfc="white", color=color)
                mean, sd = group[f"{measure}_null_mean"].astype(float), group[f"{measure}_null_sd"].astype(float)
                ax.fill_between(group["x"], mean - 2 * sd, mean + 2 * sd, color=color, alpha=0.15, lw=0)
                if measure != "cka":
                    ax.plot(group["x"], group[f"{measure}_ceiling"].astype(float), ":", color=color, lw=1)
            else:
                ax.plot(group["x"], group[measure], "o", color=color)
        handles, labels = ax.get_legend_handles_labels()
        if hue_order:
            order = [labels.index(str(h)) for h in hue_order if str(h) in labels]
            handles, labels = [handles[i] for i in order], [labels[i] for i in order]
        ax.legend(handles, labels, title=legend_title, fontsize=7)
        ax.set_xticks(sorted(frame["x"].unique()))
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(MEASURE_LABELS.get(measure, measure))


def _measures(frame: pd.DataFrame, measures) -> list[str]:
    """The measures to draw: those asked for (default all present), in a fixed order."""
    present = [m for m in MEASURE_LABELS if m in frame]
    chosen = present if measures is None else [m for m in measures if m in present]
    return chosen or ["rho"]


def figure1(records: list[dict], models: list[str] | None = None, subtitle: str = "", measures=None) -> plt.Figure:
    """Figure 1: one column per model (in ``models`` order), one line per data set, one row per measure.

    Each model is drawn at the largest f_b size among its records, as the paper does.
    """
    frame = rho_depth_frame(records)
    names = [MODEL_NAMES.get(m, m) for m in models] if models else list(dict.fromkeys(frame["Model"]))
    if not names:
        raise ValueError("figure1 needs at least one model (no records and no models given).")
    rows = _measures(frame, measures)
    fig, axes = plt.subplots(len(rows), len(names), figsize=(4.6 * len(names), 3.3 * len(rows)), squeeze=False)
    for r, measure in enumerate(rows):
        for ax, name in zip(axes[r], names):
            panel = frame[frame["Model"] == name]
            if not panel.empty:
                largest = panel["f_b layers"].max()
                panel = panel[panel["f_b layers"] == largest]
                title = f"{name}, $f_b$ = {largest} layers"
            else:
                title = name
            _draw(ax, panel, "Dataset", title, "Data set", measure=measure)
    fig.suptitle("Dependence of consecutive layers of $f_b$ (bars: 95% interval over seeds; shaded: permutation "
                 "null; dotted: log2 N ceiling; hollow: not above null)" + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    fig.tight_layout()
    return fig


def figure2(records: list[dict], subtitle: str = "", measures=None) -> plt.Figure:
    """Figure 2: one line per f_b size (records of one model and data set), one panel per measure."""
    frame = rho_depth_frame(records)
    if frame[["Model", "Dataset"]].drop_duplicates().shape[0] > 1:
        raise ValueError("figure2 draws one model on one data set; the records mix "
                         f"{frame[['Model', 'Dataset']].drop_duplicates().values.tolist()}.")
    frame = frame.assign(**{"f_b layers": frame["f_b layers"].astype(str)})
    rows = _measures(frame, measures)
    fig, axes = plt.subplots(1, len(rows), figsize=(5.6 * len(rows), 4.0), squeeze=False)
    title = "" if frame.empty else f"{frame['Model'].iloc[0]} on {frame['Dataset'].iloc[0]}"
    order = [str(v) for v in sorted({int(v) for v in frame["f_b layers"]})]
    for ax, measure in zip(axes[0], rows):
        _draw(ax, frame, "f_b layers", title, "$f_b$ layers", hue_order=order, measure=measure)
    if subtitle:
        fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    return fig


def size_comparison(records: list[dict], measure: str = "rho") -> tuple[pd.DataFrame, str]:
    """The paper's Figure 2 claim (a smaller f_b gives a slightly higher rho for a given layer pair),
    tested on the pairs every f_b size shares (same x: the same physical layers, counted from the end).

    Returns one row per shared x (the measure at each size, the smallest minus the largest size and
    the largest null sd, the scale of a difference that means nothing) and a sentence.
    """
    frame = rho_depth_frame(records)
    if frame.empty or measure not in frame or frame["f_b layers"].nunique() < 2:
        return pd.DataFrame(), "fewer than two f_b sizes: the claim cannot be compared here"
    sizes = sorted(frame["f_b layers"].unique())
    small, large = sizes[0], sizes[-1]
    wide = frame.pivot_table(index="x", columns="f_b layers", values=measure).dropna()
    null_sd = frame.pivot_table(index="x", columns="f_b layers", values=f"{measure}_null_sd") \
        if f"{measure}_null_sd" in frame else None
    table = pd.DataFrame({"x": wide.index, **{f"f_b = {s}": wide[s].values for s in sizes}})
    table["smallest minus largest"] = (wide[small] - wide[large]).values
    if null_sd is not None:
        table["largest null sd"] = null_sd.loc[wide.index].astype(float).max(axis=1).values
    higher = int((table["smallest minus largest"] > 0).sum())
    beyond = int((table["smallest minus largest"] > 2 * table.get("largest null sd", 0)).sum())
    sentence = (f"at {higher} of {len(table)} shared layer pairs the smallest f_b ({small}) has the higher "
                f"{_PLAIN_NAMES.get(measure, measure)} than the largest ({large}); "
                f"the difference exceeds twice the permutation null's sd at {beyond} of them "
                f"(mean difference {table['smallest minus largest'].mean():+.3f})")
    return table, sentence


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


def figure1_verdict(records: list[dict], cells_sentence: str, success_sentence: str) -> str:
    """The Figure 1 page's verdict: how many cells reached Acc* (``cells_sentence``), how many of the drawn
    layer pairs have rho above the permutation null in every seed, and whether rho predicts success."""
    above = [p.get("rho_above_null") for r in records for p in (r["metrics"].get("rho_pairs") or [])]
    return (f"{cells_sentence}. Of the {len(above)} layer pairs drawn in Figure 1, {sum(bool(a) for a in above)} "
            f"have an EDGE rho above its permutation null in every seed. {as_sentence(success_sentence)}")


def figure2_verdict(records: list[dict], comparison_sentence: str) -> str:
    """The Figure 2 page's verdict: the f_b sizes compared (:func:`size_comparison`'s sentence) and each size's
    accuracies under attack."""
    acc = "; ".join(f"f_b = {r['config']['fb_layers']}: Acc* {r['metrics']['acc_star']:.1f}, "
                    f"Acc~ {r['metrics']['acc_tilde']:.1f}" for r in records)
    return f"{as_sentence(comparison_sentence)} Accuracies under attack: {acc}."


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` (format from the suffix, e.g. .png or .pdf) atomically; returns the path."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["rho_depth_frame", "figure1", "figure2", "trial_curves", "size_comparison", "save_figure", "figure1_verdict",
           "figure2_verdict", "X_LABEL", "Y_LABEL", "MEASURE_LABELS"]
