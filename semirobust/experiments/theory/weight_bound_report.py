"""Section 2.2's run as readers see it: the trajectory and Taylor-regime frames, the sentences on how
often and how tightly each bound held, the numbers the book pages glue, and the plots.

Everything here reads a ``weight_bound`` record (:func:`semirobust.experiments.theory.weight_bound.run_weight_bound`)
and computes nothing new, as :mod:`semirobust.experiments.table1.report` and
:mod:`semirobust.experiments.report.figures` do for Table 1. The plots are in the book's figure style
(:mod:`semirobust.experiments.report.style`).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy.stats import spearmanr

from semirobust.experiments.report.markup import as_sentence
from semirobust.experiments.report.style import book_figure, book_style

__all__ = ["CONDITIONS", "NO_GAP", "ratio_text", "weight_bound_frame", "taylor_frame", "reference_frame",
           "reference_caption", "missing_factors_frame", "smallest_ratio", "bound_failures", "distance_gap_trend",
           "trend_sentence", "alignment_note", "premise_sentence", "weight_bound_statements", "weight_bound_glue_values",
           "plot_bound_ratios", "plot_weight_bound", "plot_distance_gap"]

#: the record's evaluation conditions: clean test images and images attacked against each network.
CONDITIONS = ("clean", "adv")
#: what a page says where a bound / loss-gap ratio is undefined (the record holds None there).
NO_GAP = "the loss gap is not positive here"
#: the same for the gradient-free ratio (gap minus g.dw) and for eq. (14) against the output difference.
NO_GAP_GRADFREE = "the loss gap minus g.dw is not positive here"
NO_OUTPUT_DIFF = "the output difference is zero here"
#: the ratio columns of the frames and the words shown where the record holds None.
_UNDEFINED = {"bound_ratio": NO_GAP, "frobenius_ratio": NO_GAP, "eq14_ratio": NO_GAP, "taylor_ratio": NO_GAP,
              "eq14_output_ratio": NO_OUTPUT_DIFF, "bound_ratio_gradfree": NO_GAP_GRADFREE}
#: random permutations of the trend's p-value above the size where all are enumerated.
TREND_PERMUTATIONS = 10_000


def ratio_text(value, undefined: str = NO_GAP, digits: int = 3) -> str:
    """A ratio as text: ``digits`` significant digits, or ``undefined`` where it is None or not finite."""
    if value is None or not math.isfinite(float(value)):
        return undefined
    return f"{float(value):.{digits}g}"


def _words_for_undefined(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratio columns with None/NaN replaced by the words saying why (never "nan" on a page)."""
    frame = frame.copy()
    for column in frame.columns:
        key = next((k for k in sorted(_UNDEFINED, key=len, reverse=True) if column.startswith(k)), None)
        if key is not None:
            frame[column] = [ratio_text(v, _UNDEFINED[key]) for v in frame[column]]
    return frame


def weight_bound_frame(record: dict) -> pd.DataFrame:
    """The trajectory as a table: one row per epoch."""
    columns = ["epoch", "delta_fb_norm"]
    for name in CONDITIONS:
        columns += [f"excess_loss_{name}", f"first_order_{name}", f"second_order_{name}", f"eig_bound_{name}",
                    f"output_diff_{name}", f"norm_bound_{name}", f"eq14_bound_{name}", f"bound_ratio_{name}",
                    f"frobenius_ratio_{name}", f"eq14_ratio_{name}", f"eq14_output_ratio_{name}"]
    frame = pd.DataFrame(record["metrics"]["trajectory"])
    if "delta_fb_norm_aligned" in frame:
        columns.insert(2, "delta_fb_norm_aligned")
    return _words_for_undefined(frame[columns])


def taylor_frame(record: dict) -> pd.DataFrame:
    """The Taylor-regime runs: one row per (condition, direction, radius)."""
    columns = ["condition", "direction", "radius", "delta_fb_norm", "excess_loss", "first_order", "second_order",
               "eig_bound", "taylor_ratio", "bound_ratio", "bound_ratio_gradfree"]
    return _words_for_undefined(pd.DataFrame(record["metrics"]["taylor_regime"])[columns])


def _ratio_text(values) -> str:
    finite = [v for v in values if v is not None]
    if not finite:
        return "undefined at every point (loss gap <= 0, where any non-negative bound holds trivially)"
    return f"{min(finite):.3g} to {max(finite):.3g} over {len(finite)} of {len(values)} points with a positive loss gap"


def bound_failures(record: dict) -> list[str]:
    """Every point where the second-order bound fell below the loss gap (bound / gap < 1), along fine-tuning
    and in the Taylor regime, as short phrases (empty when it never failed)."""
    found = []
    for r in record["metrics"]["trajectory"]:
        for name in CONDITIONS:
            ratio = r.get(f"bound_ratio_{name}")
            if ratio is not None and ratio < 1:
                found.append(f"epoch {r['epoch']} ({name}, ratio {ratio:.3g})")
    for r in record["metrics"].get("taylor_regime", []):
        if r["bound_ratio"] is not None and r["bound_ratio"] < 1:
            found.append(f"r = {r['radius']:g} along the {r['direction'].replace('_', ' ')} ({r['condition']}, "
                         f"ratio {r['bound_ratio']:.3g})")
    return found


def _permutation_p(x: np.ndarray, y: np.ndarray, observed: float, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's r: the share of orderings of y whose |r| reaches |observed|
    (all orderings up to 8 points, else :data:`TREND_PERMUTATIONS` random ones plus the observed)."""
    n = len(x)
    if n <= 8:
        perms = list(itertools.permutations(range(n)))
    else:
        rng = np.random.default_rng(seed)
        perms = [tuple(range(n))] + [tuple(rng.permutation(n)) for _ in range(TREND_PERMUTATIONS)]
    hits = sum(abs(spearmanr(x, y[list(p)]).statistic) >= abs(observed) - 1e-12 for p in perms)
    return hits / len(perms)


def distance_gap_trend(record: dict, condition: str = "clean", distance: str = "delta_fb_norm") -> dict:
    """Along fine-tuning, Spearman's r between the weight distance (``distance``) and the excess loss on
    ``condition``, its exact permutation p-value (no association: r near 0), and the first and last values.
    ``r`` is None where it is undefined (fewer than three points, or a constant series)."""
    traj = [row for row in record["metrics"]["trajectory"] if row.get(distance) is not None]
    x = np.array([row[distance] for row in traj], dtype=float)
    y = np.array([row[f"excess_loss_{condition}"] for row in traj], dtype=float)
    out = {"condition": condition, "distance": distance, "points": len(traj), "r": None, "p": None}
    if len(traj):
        out.update(distance_first=float(x[0]), distance_last=float(x[-1]), gap_first=float(y[0]), gap_last=float(y[-1]))
    if len(traj) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        r = float(spearmanr(x, y).statistic)
        out.update(r=r, p=_permutation_p(x, y, r))
    return out


def trend_sentence(trend: dict) -> str:
    """What the trend of the weight distance against the loss gap shows, in one sentence."""
    label = "permutation-aligned distance" if trend["distance"].endswith("aligned") else "weight distance"
    if trend["points"] == 0:
        return f"the {label} was not recorded along fine-tuning"
    moves = (f"along fine-tuning the {label} ||w~_b - w*_b|| went from {trend['distance_first']:.3g} to "
             f"{trend['distance_last']:.3g} while the {trend['condition']} excess loss went from "
             f"{trend['gap_first']:.3g} to {trend['gap_last']:.3g}")
    if trend["r"] is None:
        return moves + f"; a rank correlation is undefined over {trend['points']} point(s)"
    direction = ("so the gap fell as the weights moved away from w*_b, the opposite of the bounds' reading"
                 if trend["r"] < 0 else "the direction the bounds suggest" if trend["r"] > 0 else "with no rank order")
    return (moves + f"; Spearman's r = {trend['r']:+.2f} over {trend['points']} epochs ({direction}; under no "
            f"association r is near 0, and the exact permutation p-value is {trend['p']:.2g})")


def alignment_note(record: dict) -> str:
    """How much matching the hidden units changed the weight distance along fine-tuning."""
    rows = [r for r in record["metrics"]["trajectory"] if r.get("delta_fb_norm_aligned") is not None]
    if not rows:
        return "the permutation-aligned distance was not computed (f_b is not a chain of layers, or an older record)"
    change = max((r["delta_fb_norm"] - r["delta_fb_norm_aligned"]) / r["delta_fb_norm"] if r["delta_fb_norm"] else 0.0
                 for r in rows)
    if change <= 1e-9:
        return ("matching the hidden units left the distance unchanged at every epoch: the units of f~_b already "
                "corresponded to those of f*_b")
    return f"matching the hidden units lowered the distance by at most {100 * change:.3g}% over the epochs"


def premise_sentence(record: dict) -> str:
    """The premise grad l(w*) = 0 of the second-order bound, as measured at w*."""
    ref = record["metrics"]["reference"]
    return (f"the second-order bound assumes grad l(w*) = 0; at w* the gradient norm was "
            f"{ref['clean']['grad_norm_star']:.3g} on clean and {ref['adv']['grad_norm_star']:.3g} on attacked data, "
            f"so the first-order term g.dw that the bound drops is reported beside it")


def _taylor_label(ratio: float | None) -> str:
    """How a bound / gap ratio reads: below 1 the bound failed; 1 to 2 is within 2x; above 2 it is loose."""
    if ratio is None:
        return ""
    if ratio < 1:
        return " (below 1: the bound FAILED here, the loss rose more than it allows)"
    return " (within 2x)" if ratio <= 2 else " (NOT within 2x)"


def reference_frame(record: dict) -> pd.DataFrame:
    """What Section 2.2 fixes at w*, one column per condition: lambda_max(H_bb) with its cost and accuracy,
    the loss and gradient norm at w*, and C_x."""
    ref = record["metrics"]["reference"]
    return pd.DataFrame({name: {"lambda_max(H_bb)": ref[name]["lambda_max"], "HVPs": ref[name]["n_hvp"],
                                "relative residual": ref[name]["relative_residual"],
                                "eigensolver seconds": ref[name]["eig_seconds"], "loss at w*": ref[name]["loss_star"],
                                "||grad|| at w*": ref[name]["grad_norm_star"], "C_x": ref[name]["c_x"]}
                         for name in CONDITIONS})


def reference_caption(record: dict) -> str:
    """The Markdown caption of :func:`reference_frame`: f_b's size and the alternative bound's constants."""
    ref = record["metrics"]["reference"]
    return (rf"**At w\*** ({ref['n_fb_parameters']} f_b parameters; prod of the f\*_a weight norms "
            f"{ref['prod_fa_weight_norms']:.4g} over {len(ref['fa_weight_norms'])} layers; C_sigma = {ref['c_sigma']:g})")


def missing_factors_frame(record: dict) -> pd.DataFrame:
    """The factors the Frobenius bound leaves out, measured on F*, as a one-column table."""
    return pd.Series(record["metrics"]["missing_factors"]).to_frame("value")


def smallest_ratio(values) -> float:
    """The smallest defined bound / loss-gap ratio; NaN when none is (None marks a gap <= 0, where a ratio
    is undefined), so that a glued number is always a float."""
    finite = [v for v in values if v is not None]
    return float(min(finite)) if finite else math.nan


def weight_bound_statements(record: dict) -> list[str]:
    """How often each bound held and how tight it is (bound / loss gap), and lambda_max's accuracy, as sentences."""
    checks, ref = record["metrics"]["checks"], record["metrics"]["reference"]
    attack = f"{record['config']['attack']} at eps={record['config']['eps'] * 255:.0f}/255"
    lines = []
    for name, label in (("clean", "clean data"), ("adv", f"attacked data ({attack})")):
        r = ref[name]
        lines.append(f"On {label}: lambda_max(H_bb) = {r['lambda_max']:.4g} ({r['method']}, tol {r['tol']:g}, "
                     f"{r['n_hvp']} Hessian-vector products, relative residual {r['relative_residual']:.1e}); "
                     f"||grad|| at w* = {r['grad_norm_star']:.3g} (Section 2.2 assumes 0).")
        for key, text in (("excess_le_eig_bound", "excess loss L(F~) - L(F*) <= 1/2 lambda_max ||w~_b - w*_b||^2"),
                          ("excess_le_norm_bound", "excess loss <= C_x C_sigma ||w~_b - w*_b||_F prod ||W*_(j)||_F"),
                          ("output_diff_le_norm_bound", "E||F*(x) - F~(x)|| <= the same norm bound"),
                          ("second_order_le_eig_bound", "1/2 dw^T H dw <= 1/2 lambda_max ||dw||^2 (Rayleigh)")):
            c = checks[f"{key}_{name}"]
            verdict = (f"held at all {c['points']} points" if c["held_everywhere"] else
                       f"held at {c['held_at']} of {c['points']} points only")
            lines.append(f"  {text}: {verdict}" + (" (a Rayleigh-quotient identity: it holds for every dw and tests "
                                                   "only the eigensolver)." if key == "second_order_le_eig_bound" else
                                                   "; how tight it is is in the ratios below."))
        traj = record["metrics"]["trajectory"]
        for key, text in (("bound_ratio", "second-order bound / loss gap"), ("frobenius_ratio", "Frobenius bound / loss gap"),
                          ("eq14_ratio", "eq. (14) with the measured E||sigma(f_a(x))|| / loss gap"),
                          ("eq14_output_ratio", "eq. (14) / E||F*(x) - F~(x)|| (a value below 1 means eq. (14) fails)")):
            lines.append(f"  {text}: {_ratio_text([r.get(f'{key}_{name}') for r in traj])}.")
    lines.append("These ratios test the bounds along fine-tuning from an independently trained f_b, far outside the "
                 "Taylor regime, so a large ratio there says the bound is loose, not that it is wrong.")
    for row in record["metrics"].get("taylor_regime", []):
        ratio = row["bound_ratio"]
        lines.append(f"Taylor regime ({row['condition']}, {row['direction']}, r = {row['radius']:g}): second-order bound / "
                     f"loss gap = {ratio_text(ratio)}{_taylor_label(ratio)}; "
                     f"(g.dw + 1/2 dw^T H dw) / gap = {ratio_text(row['taylor_ratio'])}.")
    failures = bound_failures(record)
    lines.append("The second-order bound failed (bound / gap below 1) at " + "; ".join(failures) + "."
                 if failures else "The second-order bound never fell below the loss gap.")
    lines.append(as_sentence(premise_sentence(record)))
    for name in CONDITIONS:
        lines.append(as_sentence(trend_sentence(distance_gap_trend(record, name))))
        aligned = distance_gap_trend(record, name, "delta_fb_norm_aligned")
        if aligned["points"]:
            lines.append(as_sentence(trend_sentence(aligned)))
    lines.append(as_sentence(alignment_note(record)))
    lines.append("Tested: the loss at fixed evaluation images (on attacked data at examples crafted against each network "
                 "for the trajectory, at the examples crafted against F* for the Taylor runs); not tested: the robust "
                 "loss's Hessian (Danskin covers only its gradient), and the Frobenius bound with its missing factors "
                 "(listed on the page, not multiplied in).")
    return lines


def weight_bound_glue_values(record: dict) -> dict:
    """The numbers and the table the book pages glue from the weight_bound notebook, by glue name.

    The ratios are the smallest over the trajectory (:func:`smallest_ratio`); the Taylor-regime ones are
    those of the smallest radius along the top eigenvector on clean data. Every ratio is text
    (:func:`ratio_text`), with :data:`NO_GAP` where it is undefined, so no glued value is NaN.
    """
    config, metrics = record["config"], record["metrics"]
    checks, ref = metrics["checks"], metrics["reference"]
    values = {"weight_bound_profile": record["profile"], "weight_bound_dataset": config["dataset"],
              "weight_bound_model": config["arch"], "weight_bound_fb_layers": config["fb_layers"],
              "weight_bound_epochs": config["epochs"]}
    for name in CONDITIONS:
        values[f"weight_bound_lambda_max_{name}"] = f"{ref[name]['lambda_max']:.4g}"
        values[f"weight_bound_grad_norm_{name}"] = f"{ref[name]['grad_norm_star']:.3g}"
        for key in ("excess_le_eig_bound", "excess_le_norm_bound", "output_diff_le_norm_bound"):
            c = checks[f"{key}_{name}"]
            values[f"weight_bound_{key}_{name}"] = ("at every point" if c["held_everywhere"]
                                                    else f"at {c['held_at']} of {c['points']} points")
    values["weight_bound_table"] = weight_bound_frame(record)
    for name in CONDITIONS:
        for key in ("bound_ratio", "frobenius_ratio", "eq14_ratio"):
            values[f"weight_bound_{key}_{name}"] = ratio_text(
                smallest_ratio([r[f"{key}_{name}"] for r in metrics["trajectory"]]))
    eig_rows = [r for r in metrics["taylor_regime"] if r["direction"] == "top_eigenvector" and r["condition"] == "clean"]
    smallest = min(eig_rows, key=lambda r: r["radius"])
    values["weight_bound_taylor_radius"] = f"{smallest['radius']:g}"
    for key, glued, words in (("bound_ratio", "taylor_bound_ratio", NO_GAP),
                              ("bound_ratio_gradfree", "taylor_gradfree_ratio", NO_GAP_GRADFREE)):
        values[f"weight_bound_{glued}"] = ratio_text(smallest[key], words)
    defined = [r for r in eig_rows if r["bound_ratio"] is not None]
    tightest = min(defined, key=lambda r: abs(math.log(r["bound_ratio"]))) if defined else None
    values["weight_bound_taylor_best"] = (
        f"{tightest['bound_ratio']:.3g} at r = {tightest['radius']:g}" if tightest else NO_GAP)
    failures = bound_failures(record)
    values["weight_bound_failures"] = ("; ".join(failures) if failures else
                                       "nowhere: the second-order bound never fell below the loss gap")
    values["weight_bound_failure_count"] = len(failures)
    values["weight_bound_premise"] = as_sentence(premise_sentence(record))
    trend = distance_gap_trend(record)
    values["weight_distance_gap_r"] = "undefined" if trend["r"] is None else f"{trend['r']:+.2f}"
    values["weight_distance_gap_p"] = "undefined" if trend["p"] is None else f"{trend['p']:.2g}"
    values["weight_distance_gap_sentence"] = as_sentence(trend_sentence(trend))
    aligned = distance_gap_trend(record, distance="delta_fb_norm_aligned")
    values["weight_distance_aligned_gap_r"] = "not computed" if aligned["points"] == 0 else (
        "undefined" if aligned["r"] is None else f"{aligned['r']:+.2f}")
    values["weight_distance_aligned_sentence"] = as_sentence(trend_sentence(aligned))
    values["weight_distance_alignment_note"] = as_sentence(alignment_note(record))
    return values


@book_style
def plot_bound_ratios(record: dict):
    """Each bound divided by the loss gap over the fine-tuning epochs (log scale; points with gap <= 0 left out)."""
    frame = pd.DataFrame(record["metrics"]["trajectory"])
    fig, axes = book_figure(2, height=3.0, sharex=True)
    axes = axes[0]
    for ax, name in zip(axes, CONDITIONS):
        for key, label, style in (("bound_ratio", "1/2 lambda_max ||dw||^2 / gap", "v-"),
                                  ("frobenius_ratio", "Frobenius bound / gap", "d-"), ("eq14_ratio", "eq. (14) / gap", "o-")):
            values = pd.to_numeric(frame[f"{key}_{name}"], errors="coerce")
            ax.plot(frame["epoch"], values, style, label=label)
        ax.axhline(1, color="grey", lw=0.8)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.set_xlabel("epoch of f_b fine-tuning")
    axes[0].set_ylabel("bound / loss gap (1 = tight)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    return fig


@book_style
def plot_weight_bound(record: dict):
    """The excess loss (-d) against both bounds and the Taylor terms over the epochs, clean and attacked."""
    frame = pd.DataFrame(record["metrics"]["trajectory"])
    fig, axes = book_figure(2, height=3.2, sharex=True)
    axes = axes[0]
    attack = f"{record['config']['attack']}, eps={record['config']['eps'] * 255:.0f}/255"
    for ax, name, title in ((axes[0], "clean", "clean"), (axes[1], "adv", f"attacked ({attack})")):
        ax.plot(frame["epoch"], frame[f"excess_loss_{name}"], "ko-", label="excess loss L(F~) - L(F*) = -d")
        ax.plot(frame["epoch"], frame[f"second_order_{name}"], "s--", label="1/2 dw^T H dw")
        ax.plot(frame["epoch"], frame[f"first_order_{name}"], "^:", label="g^T dw (assumed 0)")
        ax.plot(frame["epoch"], frame[f"eig_bound_{name}"], "v-", label="1/2 lambda_max ||dw_b||^2")
        ax.plot(frame["epoch"], frame[f"norm_bound_{name}"], "d-", label="C ||dw_b||_F prod ||W*_a||_F")
        ax.plot(frame["epoch"], frame[f"output_diff_{name}"], "x:", label="E||F*(x) - F~(x)||")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel("epoch of f_b fine-tuning\n(0 = (f*_a, f_b))")
    axes[0].set_ylabel("value (symlog scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"Section 2.2 bounds: {record['config']['arch']} on {record['config']['dataset']}, "
                 f"f_b = {record['config']['fb_layers']} layers (profile={record['profile']})")
    return fig


@book_style
def plot_distance_gap(record: dict):
    """The excess loss against the weight distance along fine-tuning (each point an epoch), clean and attacked,
    with the permutation-aligned distance where the record has it."""
    frame = pd.DataFrame(record["metrics"]["trajectory"])
    fig, axes = book_figure(2, height=3.2)
    axes = axes[0]
    for ax, name in zip(axes, CONDITIONS):
        for column, style, label in (("delta_fb_norm", "o-", "||w~_b - w*_b||"),
                                     ("delta_fb_norm_aligned", "s--", "aligned (hidden units matched)")):
            if column not in frame or frame[column].isna().all():
                continue
            ax.plot(frame[column], frame[f"excess_loss_{name}"], style, label=label)
            for x, y, epoch in zip(frame[column], frame[f"excess_loss_{name}"], frame["epoch"]):
                ax.annotate(str(epoch), (x, y), textcoords="offset points", xytext=(4, 4))
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_xlabel("weight distance to w*_b (labels: epoch)")
        ax.set_title(name)
    axes[0].set_ylabel("excess loss L(F~) - L(F*)")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return fig
