"""Could the paper's rho have measured dependence? Synthetic pairs with known answers at the paper's sizes.

For N samples (one class) and d dimensions per side, three kinds of pair:

* ``gaussian``: d independent coordinate pairs with correlation r; I = -d/2 log2(1 - r^2) bits
  (:func:`semirobust.mi.gaussian_pair`, :func:`semirobust.mi.true_mi`);
* ``relu``: Y = relu(s * X[:, pi]) + 0.1 noise (a fixed sign flip and permutation of the coordinates):
  Y is almost a function of X, the dependence of consecutive layers the paper assumes;
* ``independent``: X and Y drawn independently (I = 0).

Each measure (EDGE at a preset, KSG on PCA, linear CKA) is run through
:func:`semirobust.mi.calibrated_mi`, so every estimate comes with its permutation null, and a
dependent pair counts as *detected* only when it is above that null. The sizes are those where the
paper measured rho: 100 (CIFAR-100), ~390 (Imagenette) and 1000 (CIFAR-10) test images per class,
down to what this book's own rho uses (the offline profile's ``rho_samples`` over the classes of
``digits``: :func:`rho_samples_per_class`), and layer widths from a narrow linear layer to a flattened
early convolution.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from semirobust.config import get_profile
from semirobust.data import dataset_info
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.mi import calibrated_mi, gaussian_pair, true_mi

__all__ = ["KINDS", "make_pair", "run_study", "detection_summary", "truth_table", "plot_study", "verdict",
           "rho_samples_per_class", "sizes_text"]

KINDS = ("gaussian", "relu", "independent")
#: Correlation of each Gaussian coordinate pair.
GAUSSIAN_R = 0.5
#: (measure, EDGE preset) combinations studied.
ESTIMATORS = (("edge", "authors"), ("edge", "noshad"), ("ksg", None), ("cka", None))


def make_pair(kind: str, n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    """X, Y (float32, n x dim) of one kind and the true MI in bits (None when not in closed form)."""
    if kind == "gaussian":
        x, y = gaussian_pair(n, GAUSSIAN_R, dim, seed=seed, dtype=np.float32)
        return x, y, true_mi(GAUSSIAN_R, dim)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    if kind == "relu":
        signs = np.where(rng.random(dim) < 0.5, -1.0, 1.0).astype(np.float32)
        y = np.maximum(signs * x[:, rng.permutation(dim)], 0) + 0.1 * rng.standard_normal((n, dim), dtype=np.float32)
        return x, y, None
    if kind == "independent":
        return x, rng.standard_normal((n, dim), dtype=np.float32), 0.0
    raise ValueError(f"Unknown pair kind {kind!r}; valid: {', '.join(KINDS)}.")


def run_study(profile: str = "offline", *, seed: int = 0, estimators=ESTIMATORS, progress: bool = True) -> pd.DataFrame:
    """One row per (kind, N, d, measure, preset): estimate, truth, null mean/sd, ceiling, p, above_null, seconds."""
    prof = get_profile(profile)
    rows = []
    cells = [(n, d) for n in prof.study_ns for d in prof.study_dims]
    for position, (n, dim) in enumerate(cells, 1):
        start_cell = time.perf_counter()
        labels = np.zeros(n, dtype=int)
        for k, kind in enumerate(KINDS):
            x, y, truth = make_pair(kind, n, dim, seed=seed + 1000 * k + dim + n)
            for measure, preset in estimators:
                start = time.perf_counter()
                found = calibrated_mi(x, y, labels, measure=measure, preset=preset or "authors",
                                      permutations=prof.study_permutations, seed=seed)
                rows.append({"kind": kind, "n": n, "dim": dim, "measure": measure, "preset": preset or "",
                             "estimate": found["mi"], "truth": truth, "null_mean": found["null_mean"],
                             "null_sd": found["null_sd"], "ceiling": found["ceiling"], "p_value": found["p_value"],
                             "above_null": found["above_null"], "seconds": time.perf_counter() - start})
        if progress:
            print(f"[dependence study] ({position}/{len(cells)}) N={n}, d={dim}: "
                  f"{time.perf_counter() - start_cell:.1f} s", flush=True)
    return pd.DataFrame(rows)


def detection_summary(study: pd.DataFrame) -> pd.DataFrame:
    """Per estimator: dependent cells detected (above null), false alarms on independent cells, and
    how close EDGE's dependent estimates sit to the log2 N ceiling."""
    study = study.assign(estimator=[f"{m} ({p})" if p else m for m, p in zip(study.measure, study.preset)])
    out = []
    for name, group in study.groupby("estimator", sort=False):
        dependent, independent = group[group.kind != "independent"], group[group.kind == "independent"]
        out.append({"estimator": name, "dependent_detected": int(dependent.above_null.sum()),
                    "dependent_cells": len(dependent), "false_alarms": int(independent.above_null.sum()),
                    "independent_cells": len(independent),
                    "median_estimate_over_ceiling": float((dependent.estimate / dependent.ceiling).median())})
    return pd.DataFrame(out)


def truth_table(study: pd.DataFrame) -> pd.DataFrame:
    """Estimate against truth on the Gaussian pairs (closed-form MI, in bits), one row per (N, d): the truth,
    the log2 N ceiling no estimate from N samples can pass, and each MI estimator's value (CKA is not in bits
    and is left out)."""
    gauss = study[(study.kind == "gaussian") & (study.measure != "cka")]
    gauss = gauss.assign(estimator=[f"{m} ({p})" if p else m for m, p in zip(gauss.measure, gauss.preset)])
    table = gauss.pivot_table(index=["n", "dim"], columns="estimator", values="estimate", sort=False)
    firsts = gauss.groupby(["n", "dim"], sort=False)[["truth", "ceiling"]].first()
    return pd.concat([firsts, table], axis=1).reset_index().rename(columns={"n": "N", "dim": "d"})


@book_style
def plot_study(study: pd.DataFrame):
    """One panel per estimator (two a row): the estimate of each dependent and independent pair against its null
    band."""
    study = study.assign(estimator=[f"{m} ({p})" if p else m for m, p in zip(study.measure, study.preset)])
    names = list(dict.fromkeys(study.estimator))
    fig, axes = book_figure(len(names), height=3.0, ncols=min(2, len(names)))
    for ax in axes.flat[len(names):]:
        fig.delaxes(ax)
    cells = [f"{n}/{d}" for n, d in dict.fromkeys(zip(study.n, study.dim))]
    for ax, name in zip(axes.flat, names):
        group = study[study.estimator == name]
        for kind, marker in zip(KINDS, ("o", "s", "x")):
            g = group[group.kind == kind]
            pos = [cells.index(f"{n}/{d}") for n, d in zip(g.n, g.dim)]
            ax.errorbar(pos, g.null_mean, yerr=2 * g.null_sd, fmt="none", ecolor="0.6", capsize=2)
            ax.plot(pos, g.estimate, marker, label=kind, ls="none")
        ax.set_xticks(range(len(cells)), cells, rotation=90)
        ax.set_title(name)
        ax.set_xlabel("N / d")
    for row in axes:
        row[0].set_ylabel("estimate (bits or CKA)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="pair (grey: null mean ± 2 sd)", loc="outside lower center", ncols=3,
               frameon=False)
    return fig


def verdict(summary: pd.DataFrame) -> str:
    """The study's finding in one sentence per estimator, from the summary (nothing typed by hand)."""
    parts = [f"{r.estimator} was above its permutation null for {r.dependent_detected} of {r.dependent_cells} "
             f"dependent pairs and {r.false_alarms} of {r.independent_cells} independent ones"
             for r in summary.itertuples()]
    return "; ".join(parts) + "."


def rho_samples_per_class(profile: str = "offline", dataset: str = "digits") -> int | None:
    """The attacked test images per class behind each rho of ``profile`` on ``dataset`` (``rho_samples`` over the
    number of classes); None when the profile uses every test image (``rho_samples=None``)."""
    samples = get_profile(profile).rho_samples
    return None if samples is None else samples // dataset_info(dataset).num_classes


def sizes_text(values) -> str:
    """``(20, 50, 100)`` as "20, 50 and 100" (thousands separated)."""
    items = [f"{v:,}" for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
