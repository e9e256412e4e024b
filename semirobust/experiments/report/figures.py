"""Figures 1 and 2 of the paper: rho of every layer pair of f_b against depth, from ``table1`` records.

The x axis is x in rho_{n-x}: x = 0 is the last pair of layers of f_b (rho_n) and
x = |f_b| - 1 the pair that joins f*_a to f_b (rho_{a+1}), as in the paper's figures.
Figure 1 draws one row per model and one line per data set, one figure per measure (EDGE rho, the
paper's, then the KSG and CKA controls): the excess over the within-class permutation null is the primary
panel, the raw value with the null's band the secondary one (:func:`figure1_excess`); the trend with depth
is read on the excess (:func:`semirobust.experiments.rho.figure_claims.depth_trend`), so the null's own rise is
subtracted. Figure 2 draws one line
per f_b size.

Every figure is drawn in the book's style (:mod:`semirobust.experiments.report.style`: the column's width, at most
three panels a row, no text under 9 pt); what the marks mean and the sample sizes go into a caption
(:func:`figure1_caption`, :func:`figure2_caption`, :func:`trial_curves_caption`), not onto the figure.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from semirobust.config import DATASET_NAMES, MODEL_NAMES
from semirobust.experiments.report.markup import as_sentence
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.experiments.table1.report import attack_label
from semirobust.inference import mean_interval

X_LABEL = r"$x$ (layer pair $\rho_{n-x}$ of $f_b$; 0 = last pair)"
Y_LABEL = r"$\rho$ (bits)"
RHO_DEPTH_COLUMNS = ("Model", "Dataset", "f_b layers", "Attack", "x", "rho")
#: Measures a figure can draw, with their axis labels: EDGE rho (the paper's), KSG on PCA, linear CKA.
MEASURE_LABELS = {"rho": r"$\rho$, EDGE (bits)", "ksg": "KSG on PCA (bits)", "cka": "linear CKA"}
_CALIBRATION = ("null_mean", "null_sd", "ceiling", "above_null")


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
                    null = pair.get(f"{measure}_null_mean")
                    row[f"{measure}_excess"] = math.nan if value is None or null is None else float(value) - float(null)
                    row[f"{measure}_excess_ci"] = ci.get(f"{measure}_excess", math.nan)
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
            nulls = [p[j].get(f"{measure}_null_mean") for p in lists]
            if all(v is not None for v in values + nulls):
                out[j][f"{measure}_excess"] = mean_interval([v - n for v, n in zip(values, nulls)])[1]
    return out


def _draw(ax, frame: pd.DataFrame, hue: str, hue_order=None, measure: str = "rho") -> None:
    """One panel: a measure against x, one line per value of ``hue``; where calibrated, the
    permutation null (mean +- 2 sd, shaded) and the log2 N ceiling (dotted), and pairs that are
    not above their null drawn hollow. The legend is the caller's (one per figure)."""
    if frame.empty or measure not in frame or frame[measure].isna().all():
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return
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
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))


def _measures(frame: pd.DataFrame, measures) -> list[str]:
    """The measures to draw: those asked for (default all present), in a fixed order; each one asked for is
    drawn even when missing (its panel then says "not measured")."""
    present = [m for m in MEASURE_LABELS if m in frame]
    chosen = present if measures is None else [m for m in MEASURE_LABELS if m in measures]
    return chosen or ["rho"]


def _ordered_legend(axes, hue_order=None) -> tuple[list, list]:
    """The lines' handles and labels over ``axes``, each label once, in ``hue_order`` when given."""
    found = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            found.setdefault(label, handle)
    labels = [str(h) for h in hue_order if str(h) in found] if hue_order else list(found)
    return [found[label] for label in labels], labels


@book_style
def figure1(records: list[dict], models: list[str] | None = None, subtitle: str = "", measure: str = "rho") -> plt.Figure:
    """Figure 1 for one measure (EDGE rho, the paper's; or the KSG and CKA controls): one panel per model (in
    ``models`` order, at most three a row), one line per data set, each model at its largest f_b size."""
    frame = rho_depth_frame(records)
    names = [MODEL_NAMES.get(m, m) for m in models] if models else list(dict.fromkeys(frame["Model"]))
    if not names:
        raise ValueError("figure1 needs at least one model (no records and no models given).")
    fig, axes = book_figure(len(names), height=2.6)
    for ax, name in zip(axes.flat, names):
        panel = frame[frame["Model"] == name]
        if not panel.empty:
            largest = panel["f_b layers"].max()
            panel = panel[panel["f_b layers"] == largest]
            ax.set_title(f"{name}, $f_b$ = {largest}")
        else:
            ax.set_title(name)
        _draw(ax, panel, "Dataset", measure=measure)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(MEASURE_LABELS.get(measure, measure))
    fig.supxlabel(X_LABEL)
    handles, labels = _ordered_legend(axes.flat)
    if handles:
        fig.legend(handles, labels, title="Data set", loc="outside upper center", ncols=min(len(labels), 4))
    if subtitle:
        fig.suptitle(subtitle)
    return fig


def _draw_excess(ax, frame: pd.DataFrame, hue: str, hue_order=None, measure: str = "rho") -> None:
    """One panel: a measure's excess over its permutation null's mean against x, one line per value of ``hue``;
    0 (the null's mean) as a grey line, the null's spread (+- 2 sd, centred on 0) shaded, error bars the 95%
    t-interval of the excess over the seeds, hollow markers where the pair is not above its null."""
    column = f"{measure}_excess"
    if frame.empty or column not in frame or frame[column].isna().all():
        ax.text(0.5, 0.5, "no permutation null", ha="center", va="center", transform=ax.transAxes)
        return
    palette = dict(zip(hue_order or list(dict.fromkeys(frame[hue])), sns.color_palette("colorblind")))
    ax.axhline(0, color="0.5", lw=1)
    for key, group in frame.groupby(hue, sort=False):
        group = group.sort_values("x")
        color = palette.get(key, "black")
        ax.plot(group["x"], group[column], "-", color=color, label=str(key))
        ci = group.get(f"{column}_ci")
        if ci is not None and ci.notna().any():
            ax.errorbar(group["x"], group[column], yerr=ci.astype(float), fmt="none", ecolor=color, capsize=3, lw=1)
        sd = group.get(f"{measure}_null_sd")
        if sd is not None and sd.notna().any():
            sd = sd.astype(float)
            ax.fill_between(group["x"], -2 * sd, 2 * sd, color=color, alpha=0.15, lw=0)
        above = group.get(f"{measure}_above_null")
        flags = above.fillna(False).astype(bool) if above is not None else pd.Series(True, index=group.index)
        ax.plot(group["x"][flags], group[column][flags], "o", color=color)
        ax.plot(group["x"][~flags], group[column][~flags], "o", mfc="white", color=color)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))


#: the y label of an excess panel, per measure
EXCESS_LABELS = {"rho": r"$\rho$ $-$ null mean (bits)", "ksg": "KSG $-$ null mean (bits)", "cka": "CKA $-$ null mean"}


@book_style
def figure1_excess(records: list[dict], models: list[str] | None = None, measure: str = "rho",
                   subtitle: str = "") -> plt.Figure:
    """Figure 1 with the null subtracted: one row per model (at its largest f_b size), two panels a row, one line
    per data set. Left (primary): the measure's excess over its within-class permutation null's mean; right
    (secondary): the raw measure with the null's band (mean +- 2 sd) and, for the MI estimates, the log2 N
    ceiling. The caption is :func:`figure1_excess_caption`."""
    frame = rho_depth_frame(records)
    names = [MODEL_NAMES.get(m, m) for m in models] if models else list(dict.fromkeys(frame["Model"]))
    if not names:
        raise ValueError("figure1_excess needs at least one model (no records and no models given).")
    order = list(dict.fromkeys(frame["Dataset"])) if "Dataset" in frame else []
    fig, axes = book_figure(2 * len(names), height=2.4, ncols=2)
    for row, name in zip(axes, names):
        panel = frame[frame["Model"] == name]
        if not panel.empty:
            largest = panel["f_b layers"].max()
            panel = panel[panel["f_b layers"] == largest]
            row[0].set_title(f"{name}, $f_b$ = {largest}: excess over null")
        else:
            row[0].set_title(f"{name}: excess over null")
        row[1].set_title(f"{name}: raw, with the null band")
        _draw_excess(row[0], panel, "Dataset", hue_order=order, measure=measure)
        _draw(row[1], panel, "Dataset", hue_order=order, measure=measure)
        row[0].set_ylabel(EXCESS_LABELS.get(measure, f"{measure} $-$ null mean"))
        row[1].set_ylabel(MEASURE_LABELS.get(measure, measure))
    fig.supxlabel(X_LABEL)
    handles, labels = _ordered_legend(axes.flat, order)
    if handles:
        fig.legend(handles, labels, title="Data set", loc="outside upper center", ncols=min(len(labels), 4))
    if subtitle:
        fig.suptitle(subtitle)
    return fig


def figure1_excess_caption(records: list[dict], measure: str = "rho") -> str:
    """The caption of :func:`figure1_excess`: what each panel plots, the band, the error bars, the marks and n."""
    what = _MEASURE_WORDS.get(measure, measure)
    ceiling = "" if measure == "cka" else "; dotted line: the ceiling log2 N of the estimate"
    return (f"{what[0].upper()}{what[1:]} between each pair of consecutive layers of f_b against x (0: the last "
            "pair, rho_n), one row per network at its largest f_b, one line per data set. Left (the primary "
            "reading): the excess over the within-class permutation null, i.e. the value minus the mean of the same "
            "estimate with one layer's activations shuffled within each class; grey line: no excess; shaded: the "
            "null's spread, ± 2 sd around 0. Right: the raw value with the null as a shaded band (mean ± 2 sd)"
            f"{ceiling}. Filled markers: above the null in every seed; hollow: not. {_seed_words(records)}. "
            f"{_sample_words(records)}; {_profile_words(records)}.")


def per_dataset_parameters(configs) -> dict:
    """The values a notebook's ``None`` parameters resolved to, per data set where they differ (e.g. eps
    "8/255 (Fashion-MNIST), 16/255 (digits)"), for the page's parameter box."""
    def joined(get):
        found = {DATASET_NAMES.get(c.dataset, c.dataset): get(c) for c in configs}
        values = list(dict.fromkeys(found.values()))
        return values[0] if len(values) == 1 else ", ".join(f"{v} ({d})" for d, v in found.items())
    return {"eps": joined(lambda c: f"{c.eps * 255:g}/255"), "trials": joined(lambda c: c.resolved_trials),
            "epochs": joined(lambda c: c.resolved_epochs), "k": joined(lambda c: c.k)}


@book_style
def figure2(records: list[dict], subtitle: str = "", measures=("rho",)) -> plt.Figure:
    """Figure 2: one line per f_b size (records of one model and data set), one panel per measure (at most
    three; the paper's Figure 2 is EDGE rho alone)."""
    frame = rho_depth_frame(records)
    if frame[["Model", "Dataset"]].drop_duplicates().shape[0] > 1:
        raise ValueError("figure2 draws one model on one data set; the records mix "
                         f"{frame[['Model', 'Dataset']].drop_duplicates().values.tolist()}.")
    frame = frame.assign(**{"f_b layers": frame["f_b layers"].astype(str)})
    chosen = _measures(frame, measures)
    fig, axes = book_figure(len(chosen), height=3.0 if len(chosen) > 1 else 3.4)
    order = [str(v) for v in sorted({int(v) for v in frame["f_b layers"]})]
    for ax, measure in zip(axes.flat, chosen):
        _draw(ax, frame, "f_b layers", hue_order=order, measure=measure)
        ax.set_ylabel(MEASURE_LABELS.get(measure, measure))
        ax.set_xlabel(X_LABEL if len(chosen) == 1 else "")
    if len(chosen) > 1:
        fig.supxlabel(X_LABEL)
    handles, labels = _ordered_legend(axes.flat, order)
    if handles:
        axes.flat[0].legend(handles, labels, title="$f_b$ layers", ncols=2 if len(labels) > 3 else 1)
    if subtitle:
        fig.suptitle(subtitle)
    return fig


def _profile_words(records: list[dict]) -> str:
    """``profile offline, data set digits`` for the records (several values joined)."""
    profiles = sorted({str(r.get("profile") or r["config"].get("profile", "?")) for r in records})
    datasets = sorted({DATASET_NAMES.get(r["config"]["dataset"], r["config"]["dataset"]) for r in records})
    return f"profile {', '.join(profiles)}, data set {', '.join(datasets)}"


def _seed_words(records: list[dict]) -> str:
    """What the error bars are: a 95% t-interval over the seeds where a network has several, else none."""
    groups = {}
    for record in records:
        seeds = len(record["config"].get("seeds") or [record["config"].get("seed", 0)])
        groups.setdefault(seeds, []).append(MODEL_NAMES.get(record["config"]["arch"], record["config"]["arch"]))
    if list(groups) == [1]:
        return "No error bars: one seed per network"
    parts = [f"{', '.join(dict.fromkeys(names))}: {n} seeds" if n > 1 else f"{', '.join(dict.fromkeys(names))}: one seed, no bars"
             for n, names in sorted(groups.items(), reverse=True)]
    return "Error bars: 95% t-interval of the mean over the seeds (" + "; ".join(parts) + ")"


def _sample_words(records: list[dict]) -> str:
    """n behind each estimate and the attack that made its inputs."""
    images = sorted({r.get("extra", {}).get("rho_images") for r in records} - {None})
    eps = sorted({round(float(r["config"]["eps"]) * 255, 4) for r in records if "eps" in r["config"]})
    attacks = sorted({attack_label(r) for r in records if "attack" in r["config"]})
    n = f"n = {', '.join(map(str, images))} attacked test images per estimate" if images else "n not recorded"
    attack = f" ({', '.join(attacks)} at eps {', '.join(f'{e:g}' for e in eps)}/255)" if attacks and eps else ""
    return n + attack


_MARKS = ("Filled markers: above the permutation null in every seed; hollow: not above it. Shaded band: the "
          "permutation null, mean ± 2 sd (the same estimate with one layer's activations shuffled within each class)")
_MEASURE_WORDS = {"rho": "EDGE rho in bits (the paper's measure)", "ksg": "the KSG estimate on PCA-reduced activations "
                  "in bits (a control)", "cka": "linear CKA, from 0 to 1 (a control)"}


def _marks_words(records: list[dict], measure: str) -> str:
    calibrated = any(r["metrics"].get("rho_pairs") for r in records)
    marks = _MARKS + ("" if measure == "cka" else "; dotted line: the ceiling log2 N of the estimate") if calibrated else ""
    return ". ".join(filter(None, [marks, _seed_words(records)]))


def figure1_caption(records: list[dict], measure: str = "rho") -> str:
    """The caption of Figure 1 for ``measure``: what is plotted, what the marks, band and bars are, and n."""
    what = _MEASURE_WORDS.get(measure, measure)
    return (f"{what[0].upper()}{what[1:]} between each pair of consecutive layers of f_b, "
            "against x (0: the last pair, rho_n), one panel per network at its largest f_b, one line per data set. "
            f"{_marks_words(records, measure)}. {_sample_words(records)}; {_profile_words(records)}.")


def figure2_caption(records: list[dict], measures=("rho",)) -> str:
    """The caption of Figure 2 (``measures`` as drawn): what is plotted, marks, band, bars, n."""
    model = ", ".join(dict.fromkeys(MODEL_NAMES.get(r["config"]["arch"], r["config"]["arch"]) for r in records))
    sizes = ", ".join(str(s) for s in sorted({int(r["config"]["fb_layers"]) for r in records}))
    what = " and ".join(_MEASURE_WORDS.get(m, m) for m in measures)
    return (f"{model}: {what} between each pair of consecutive layers of f_b against x (0: the last pair), one line per "
            f"f_b size ({sizes} layers). {_marks_words(records, measures[0])}. {_sample_words(records)}; "
            f"{_profile_words(records)}.")


def trial_curves_caption(record: dict) -> str:
    """The caption of :func:`trial_curves`: what each line is, the reference lines, n and the profile."""
    config, extra = record["config"], record.get("extra", {})
    seeds = record["metrics"].get("seeds") or [config.get("seed", 0)]
    n = extra.get("eval_images")
    return (f"Accuracy under attack of (f*_a, f_b) after each epoch of each of the {len(record['metrics']['trials'])} "
            f"trials of seed {seeds[0]} (epoch 0: the semirobust network, Acc_sr). Dashed: Acc*; dotted: Acc* - k, "
            f"where a trial stops. {f'n = {n} attacked test images' if n else 'n not recorded'} "
            f"({attack_label(record)} at eps {float(config['eps']) * 255:g}/255); {_profile_words([record])}.")


@book_style
def trial_curves(record: dict) -> plt.Figure:
    """Adversarial test accuracy of (f*_a, f_b) per epoch of each trial of a ``table1`` record,
    starting from Acc_sr at epoch 0, with Acc* and the stopping threshold Acc* - k."""
    config, metrics = record["config"], record["metrics"]
    rows = []
    for trial in metrics["trials"]:
        rows.append({"Trial": str(trial["trial"]), "epoch": 0, "acc": metrics["acc_sr"]})
        rows.extend({"Trial": str(trial["trial"]), "epoch": p["epoch"], "acc": p["adv_acc"]} for p in trial["curve"])
    frame = pd.DataFrame(rows, columns=["Trial", "epoch", "acc"])
    fig, axes = book_figure(1, height=3.2)
    ax = axes[0, 0]
    sns.lineplot(data=frame, x="epoch", y="acc", hue="Trial", style="Trial", markers=True, dashes=False,
                 palette="colorblind", ax=ax)
    ax.axhline(metrics["acc_star"], color="black", linestyle="--", label=r"Acc$^*$ of $(f^*_a, f^*_b)$")
    ax.axhline(metrics["acc_star"] - config["k"], color="grey", linestyle=":",
               label=rf"Acc$^*$ $-$ $k$ ($k$ = {config['k']:g})")
    ax.set_xticks(sorted(frame["epoch"].unique()))
    ax.set_xlabel("epoch of subnetwork adversarial training (0: the semirobust network, Acc$_{sr}$)")
    ax.set_ylabel("accuracy under attack (%)")
    ax.set_title(f"{MODEL_NAMES.get(config['arch'], config['arch'])} on "
                 f"{DATASET_NAMES.get(config['dataset'], config['dataset'])}, $f_b$ = {config['fb_layers']} layers")
    ax.legend(title="Trial", loc="center left", bbox_to_anchor=(1.01, 0.5))
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


__all__ = ["rho_depth_frame", "figure1", "figure2", "trial_curves", "figure1_verdict", "figure2_verdict", "X_LABEL",
           "Y_LABEL", "MEASURE_LABELS", "figure1_caption", "figure2_caption", "trial_curves_caption", "figure1_excess",
           "figure1_excess_caption", "EXCESS_LABELS", "per_dataset_parameters"]
