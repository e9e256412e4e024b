"""Section 2.2's run as readers see it: the trajectory and Taylor-regime frames, the sentences on how
often and how tightly each bound held, the numbers the book pages glue, and the plots.

Everything here reads a ``weight_bound`` record (:func:`semirobust.experiments.weight_bound.run_weight_bound`)
and computes nothing new, as :mod:`semirobust.experiments.tables` and
:mod:`semirobust.experiments.figures` do for Table 1.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

__all__ = ["CONDITIONS", "weight_bound_frame", "taylor_frame", "reference_frame", "reference_caption",
           "missing_factors_frame", "smallest_ratio", "weight_bound_statements", "weight_bound_glue_values",
           "plot_bound_ratios", "plot_weight_bound"]

#: the record's evaluation conditions: clean test images and images attacked against each network.
CONDITIONS = ("clean", "adv")


def weight_bound_frame(record: dict) -> pd.DataFrame:
    """The trajectory as a table: one row per epoch."""
    columns = ["epoch", "delta_fb_norm"]
    for name in CONDITIONS:
        columns += [f"excess_loss_{name}", f"first_order_{name}", f"second_order_{name}", f"eig_bound_{name}",
                    f"output_diff_{name}", f"norm_bound_{name}", f"eq14_bound_{name}", f"bound_ratio_{name}",
                    f"frobenius_ratio_{name}", f"eq14_ratio_{name}", f"eq14_output_ratio_{name}"]
    return pd.DataFrame(record["metrics"]["trajectory"])[columns]


def taylor_frame(record: dict) -> pd.DataFrame:
    """The Taylor-regime runs: one row per (condition, direction, radius)."""
    columns = ["condition", "direction", "radius", "delta_fb_norm", "excess_loss", "first_order", "second_order",
               "eig_bound", "taylor_ratio", "bound_ratio", "bound_ratio_gradfree"]
    return pd.DataFrame(record["metrics"]["taylor_regime"])[columns]


def _ratio_text(values) -> str:
    finite = [v for v in values if v is not None]
    if not finite:
        return "undefined at every point (loss gap <= 0, where any non-negative bound holds trivially)"
    return f"{min(finite):.3g} to {max(finite):.3g} over {len(finite)} of {len(values)} points with a positive loss gap"


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
                     f"loss gap = {'undefined (gap <= 0)' if ratio is None else f'{ratio:.3g}'}"
                     f"{_taylor_label(ratio)}; "
                     f"(g.dw + 1/2 dw^T H dw) / gap = {row['taylor_ratio'] if row['taylor_ratio'] is None else round(row['taylor_ratio'], 3)}.")
    lines.append("Tested: the loss at fixed evaluation images (on attacked data at examples crafted against each network "
                 "for the trajectory, at the examples crafted against F* for the Taylor runs); not tested: the robust "
                 "loss's Hessian (Danskin covers only its gradient), and the Frobenius bound with its missing factors "
                 "(listed on the page, not multiplied in).")
    return lines


def weight_bound_glue_values(record: dict) -> dict:
    """The numbers and the table the book pages glue from the weight_bound notebook, by glue name.

    The ratios are the smallest over the trajectory (:func:`smallest_ratio`); the Taylor-regime ones are
    those of the smallest radius along the top eigenvector on clean data (NaN where the gap is <= 0).
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
            values[f"weight_bound_{key}_{name}"] = smallest_ratio([r[f"{key}_{name}"] for r in metrics["trajectory"]])
    eig_rows = [r for r in metrics["taylor_regime"] if r["direction"] == "top_eigenvector" and r["condition"] == "clean"]
    smallest = min(eig_rows, key=lambda r: r["radius"])
    values["weight_bound_taylor_radius"] = smallest["radius"]
    for key, glued in (("bound_ratio", "taylor_bound_ratio"), ("bound_ratio_gradfree", "taylor_gradfree_ratio")):
        values[f"weight_bound_{glued}"] = math.nan if smallest[key] is None else float(smallest[key])
    return values


def plot_bound_ratios(record: dict):
    """Each bound divided by the loss gap over the fine-tuning epochs (log scale; points with gap <= 0 left out)."""
    frame = pd.DataFrame(record["metrics"]["trajectory"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharex=True)
    for ax, name in zip(axes, CONDITIONS):
        for key, label, style in (("bound_ratio", "1/2 lambda_max ||dw||^2 / gap", "v-"),
                                  ("frobenius_ratio", "Frobenius bound / gap", "d-"), ("eq14_ratio", "eq. (14) / gap", "o-")):
            values = pd.to_numeric(frame[f"{key}_{name}"], errors="coerce")
            ax.plot(frame["epoch"], values, style, label=label)
        ax.axhline(1, color="grey", lw=0.8)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch of f_b fine-tuning")
    axes[0].set_ylabel("bound / loss gap (1 = tight)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_weight_bound(record: dict):
    """The excess loss (-d) against both bounds and the Taylor terms over the epochs, clean and attacked."""
    frame = pd.DataFrame(record["metrics"]["trajectory"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
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
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch of f_b fine-tuning (0 = (f*_a, f_b))")
    axes[0].set_ylabel("value (symlog scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"Section 2.2 bounds: {record['config']['arch']} on {record['config']['dataset']}, "
                 f"f_b = {record['config']['fb_layers']} layers (profile={record['profile']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
