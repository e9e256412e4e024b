"""The ``pays`` page's tables, figure and sentences on the cost-robustness frontier
(:mod:`semirobust.experiments.supplementary.pays`); Table S5 has its own modules
(:mod:`~semirobust.experiments.supplementary.table_s5`, :mod:`~semirobust.experiments.supplementary.table_s5_report`)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from semirobust.cost import training_cost
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.experiments.supplementary.pays import (
    LABELS,
    METHODS,
    TARGET_MARGIN,
    pays_verdict,
    per_seed_text,
    ratio_text,
    reached_text,
    summaries,
)
from semirobust.inference import mean_interval
from semirobust.models import build_model


def interval_text(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    mean, half = mean_interval(values)
    return f"{mean:.1f} ± {half:.1f}"


# ---------------------------------------------------------------- the frontier


#: the wall-time column's name: measured on a shared machine, it is shown but never judged
WALL_COLUMN = "Wall time to target (× full PGD; confounded by machine load)"


def methods_table(records: list[dict]) -> pd.DataFrame:
    """One row per method: the seeds that reached the target (``2/3``), its cost (the cost model's count) and
    wall time (confounded by machine load) to first reach it relative to full PGD (mean ± 95% half-width over
    the seeds that reached it, or "not reached"), its last point's robust accuracy on the curve's images, its
    final network's score and, where run, the full AutoAttack."""
    summary = summaries(records)
    rows = []
    final_key = {"algorithm1_total": "algorithm1", "algorithm1_given_fa": "algorithm1"}
    for method in METHODS:
        if method not in summary:
            continue
        finals = [r["metrics"]["finals"].get(final_key.get(method, method), {}) for r in records]
        last = [r["metrics"]["curves"][method][-1]["acc"] for r in records]
        rows.append({"Method": LABELS[method], "Reached": reached_text(summary[method]),
                     "Cost to target (× full PGD)": ratio_text(summary[method], "cost"),
                     WALL_COLUMN: ratio_text(summary[method], "wall"),
                     "Last point (%)": interval_text(last), "Final score (%)": interval_text([f.get("score") for f in finals]),
                     "Full AutoAttack (%)": interval_text([f.get("autoattack") for f in finals])})
    return pd.DataFrame(rows)


def per_seed_table(records: list[dict]) -> pd.DataFrame:
    """One row per method, one column per seed: its cost to the target relative to full PGD by the cost model
    (``0.42``) or ``not reached within the budget``, then the seeds that reached it and their mean."""
    summary = summaries(records)
    rows = []
    for method in METHODS:
        if method not in summary:
            continue
        s = summary[method]
        row = {"Method": LABELS[method]}
        row.update({f"seed {label}": text for label, text in zip(s["seed_labels"], per_seed_text(s))})
        row["Reached"] = reached_text(s)
        row["Mean where reached (× full PGD)"] = ratio_text(s) if s["reached"] else "not reached"
        rows.append(row)
    return pd.DataFrame(rows)


def _grouped(records: list[dict], method: str, key: str):
    """Per epoch index, the mean x (``key``: cost or wall) and the accuracies of the seeds that reached it."""
    by_epoch: dict[int, list[tuple[float, float]]] = {}
    for record in records:
        for point in record["metrics"]["curves"][method]:
            by_epoch.setdefault(point["epoch"], []).append((point[key], point["acc"]))
    out = []
    for epoch in sorted(by_epoch):
        xs, ys = zip(*by_epoch[epoch])
        half = mean_interval(ys)[1] if len(ys) >= 2 else 0.0
        out.append((float(np.mean(xs)), float(np.mean(ys)), half))
    return out


#: the lines of the frontier figure (algorithm1_given_fa and algorithm1_total share a curve, offset in cost)
_STYLE = {"full_pgd": ("#222222", "-", "o"), "fast_fgsm_rs": ("#dd8452", "-", "s"),
          "algorithm1_total": ("#4c72b0", "-", "^"), "algorithm1_given_fa": ("#4c72b0", ":", "^"),
          "standard_fb": ("#55a868", ":", "v"), "algorithm1_fast_fa": ("#c44e52", "-", "D")}


@book_style
def plot_frontier(records: list[dict]) -> plt.Figure:
    """Robust accuracy against cumulative training cost (left, millions of gradient evaluations) and measured
    training wall time (right, minutes): one line per method, the seeds' mean with 95% intervals, the target."""
    fig, axes = book_figure(2, height=3.6)
    target = float(np.mean([r["metrics"]["target"] for r in records]))
    for ax, key, scale, label in ((axes[0, 0], "cost", 1e-6, "training cost (10⁶ gradient evaluations)"),
                                  (axes[0, 1], "wall", 1 / 60, "training wall time (min)")):
        for method in METHODS:
            if not all(method in r["metrics"]["curves"] for r in records):
                continue
            color, ls, marker = _STYLE[method]
            points = _grouped(records, method, key)
            xs, ys, halves = (np.array(v) for v in zip(*points))
            ax.errorbar(xs * scale, ys, yerr=halves, color=color, ls=ls, marker=marker, ms=3.5, lw=1.3, capsize=2,
                        label=LABELS[method])
        ax.axhline(target, color="0.4", lw=0.9, ls="--", label=f"target: full PGD's final − {TARGET_MARGIN:g}")
        ax.set_xlabel(label)
        ax.set_ylabel("robust accuracy (%)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    return fig


#: the frontier's points as the page ships them (``data_dir``, linked under the figure).
FRONTIER_FILE = "pays_points.csv"


def frontier_points(records: list[dict]) -> pd.DataFrame:
    """Every point of every curve, one row per seed, method and point: its epoch, cumulative training cost
    (gradient evaluations), wall time (s), robust accuracy (%) and the seed's target: the numbers behind the
    frontier figure (its means and intervals over the seeds) and the methods' table."""
    rows = [{"seed": record["config"].get("seed"), "method": method, "epoch": point["epoch"], "cost": point["cost"],
             "wall_s": point["wall"], "acc": point["acc"], "target": record["metrics"]["target"]}
            for record in records for method, curve in record["metrics"]["curves"].items() for point in curve]
    return pd.DataFrame(rows, columns=["seed", "method", "epoch", "cost", "wall_s", "acc", "target"])


def write_frontier_csv(records: list[dict], data_dir: str | Path = "data") -> Path:
    """Write :func:`frontier_points` to ``<data_dir>/`` :data:`FRONTIER_FILE` (full precision); returns the path."""
    path = Path(data_dir) / FRONTIER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    frontier_points(records).to_csv(path, index=False)
    return path


def frontier_caption(records: list[dict]) -> str:
    first = records[0]
    images = first["extra"]["eval_images"]
    iters = first["extra"]["per_epoch_attack"].get("apgd_iters") or 100
    return (f"Robust accuracy (APGD-CE, {iters} iterations, on the same {images:,} test images at every point) "
            "against cumulative training cost, counted in full-network gradient evaluations (every layer's forward "
            "and backward passes weighted by its FLOPs: a frozen f*_a's missing gradients are not counted), and "
            "against measured training wall time (this machine, two training processes side by side: confounded by the "
            "machine's load, shown but not compared). Each point is "
            f"the mean over {len(records)} seeds, error bars 95% t-intervals; methods that start from trained networks "
            "begin where those networks' training ends. The dashed line is the target, the full PGD network's final "
            f"accuracy minus {TARGET_MARGIN:g} points.")


def reached_costs_text(summary: dict) -> str:
    """The cost ratios of the seeds that reached the target, each named: ``0.71 (seed 0), 0.88 (seed 2) of full
    PGD``; ``none within the budget`` when no seed did (the missed seeds are counted by :func:`reached_text`)."""
    found = [(label, r) for label, r in zip(summary["seed_labels"], summary["cost_ratios"]) if r is not None]
    if not found:
        return "none within the budget"
    return ", ".join(f"{r:.2f} (seed {label})" for label, r in found) + " of full PGD"


def glue_values(records: list[dict]) -> dict:
    """The page's glued numbers (issue names): ``pays_methods``, ``pays_seeds``, ``pays_target_acc``,
    ``pays_cost_<method>`` (the mean cost ratio over the seeds that reached the target, or ``not reached``),
    ``pays_reached_<method>`` (those seeds over all, ``2/3``), ``pays_seed_costs_<method>`` (each of those seeds'
    cost ratio, :func:`reached_costs_text`) and ``pays_verdict``."""
    summary = summaries(records)
    sentence, _ = pays_verdict(summary)
    out = {"pays_methods": ", ".join(METHODS), "pays_seeds": len(records),
           "pays_target_acc": round(float(np.mean([r["metrics"]["target"] for r in records])), 1),
           "pays_verdict": sentence}
    for method in METHODS:
        s = summary.get(method)
        out[f"pays_cost_{method}"] = "not reached" if s is None or s["cost_ratio"] is None else round(s["cost_ratio"], 2)
        out[f"pays_reached_{method}"] = "not run" if s is None else reached_text(s)
        out[f"pays_seed_costs_{method}"] = "not run" if s is None else reached_costs_text(s)
    return out


def pays_claim(records: list[dict]) -> tuple[str, str, str]:
    """The verdict box: the result (cost ratios with intervals), the status of the paper's motivation (training the
    subnetwork costs less, read as: Algorithm 1 from a given f*_a reaches the target for less than full PGD) and
    the reading sentence."""
    summary = summaries(records)
    sentence, status = pays_verdict(summary)
    result = (f"Cost to reach {np.mean([r['metrics']['target'] for r in records]):.1f}% (full PGD's final robust "
              f"accuracy minus {TARGET_MARGIN:g} points), relative to full PGD, over {len(records)} seeds: "
              + "; ".join(f"{LABELS[m]} {ratio_text(summary[m])}" for m in METHODS if m in summary) + ".")
    return result, status, sentence


def paper_scale_table(arch: str = "vgg16", dataset: str = "cifar10", fb_layers: int = 12) -> pd.DataFrame:
    """The six methods' training cost at the paper profile's sizes, from the same cost model (a model, not a run:
    every epoch of every trial runs, no accuracy attached): full-network gradient evaluations and the ratio to
    full PGD. FGSM-RS and the fast f_a use the paper's epochs too."""
    from semirobust.config import DATASET_SPECS, get_profile

    profile = get_profile("paper")
    model = build_model(arch, dataset, width=profile.width)
    n = round(DATASET_SPECS[dataset].train_size * (1 - profile.val_fraction))
    steps, epochs, sub = profile.train_attack_steps, profile.epochs, profile.trials * profile.sub_epochs

    def cost(mode, fb, count):
        return count * training_cost(model, mode, fb, n, steps)

    regular, full = cost("standard", None, epochs), cost("adversarial", None, epochs)
    fast, trials = cost("fgsm_rs", None, epochs), cost("adversarial", fb_layers, sub)
    rows = {"full_pgd": full, "fast_fgsm_rs": fast, "algorithm1_total": regular + full + trials,
            "algorithm1_given_fa": regular + trials, "standard_fb": regular + cost("standard", fb_layers, sub),
            "algorithm1_fast_fa": fast + regular + trials}
    return pd.DataFrame([{"Method": LABELS[m], "Training cost (10⁶ gradient evaluations)": f"{c / 1e6:,.1f}",
                          "× full PGD": f"{c / full:.2f}"} for m, c in rows.items()])


def memory_table(report: dict, arch: str = "vgg16", fb_sizes=(4, 12)) -> pd.DataFrame:
    """Peak memory of one training step as ``benchmarks/gpu_check.py`` measured it (``report``: its JSON): the
    plain step, full adversarial training and frozen-f_a adversarial training at each f_b size."""
    case = next(c for c in report["cases"] if c["arch"] == arch)
    rows = []
    for m in case["measurements"]:
        if m.get("skipped") or m.get("precision", "fp32") != "fp32" or m.get("compiled"):
            continue
        if m["variant"] == "frozen" and m["fb_layers"] not in fb_sizes:
            continue
        if m["variant"] not in ("plain", "full", "frozen"):
            continue
        name = {"plain": "standard step", "full": "adversarial step, whole network"}.get(
            m["variant"], f"adversarial step, f_a frozen (f_b = {m['fb_layers']})")
        rows.append({"Step": name, "Peak memory (MB)": f"{m['memory_mb']:.1f}", "Step time (s)": f"{m['step_s']:.2f}"})
    return pd.DataFrame(rows)


__all__ = ["FRONTIER_FILE", "frontier_points", "write_frontier_csv", "WALL_COLUMN", "interval_text", "methods_table",
           "per_seed_table", "pays_claim", "paper_scale_table", "memory_table", "plot_frontier",
           "frontier_caption", "reached_costs_text", "glue_values"]
