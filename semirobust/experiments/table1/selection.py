"""Algorithm 1's selection and aggregation rules, apart from the runs: Acc~ under both selection rules, Diff,
epochs and rho from a seed's trials (:func:`summarize_trials`), the best epoch of a curve, and the means with
their intervals over seeds (:func:`aggregate_seeds`, :func:`aggregate_pairs`)."""
from __future__ import annotations

import numpy as np

from semirobust.experiments.table1.arms import CONTROLS
from semirobust.inference import mean_interval


def summarize_trials(trials: list[dict], acc_star: float, k: float) -> dict:
    """Acc~ (both rules), Diff, epochs and rho from the trials' metrics (rules in the module docstring).

    Each trial dict has ``acc`` (its largest test accuracy over its epochs: the paper's box),
    ``val_acc`` and ``test_at_val`` (largest validation accuracy and the test accuracy of that
    epoch's network), ``epochs_run`` and ``rho`` (rho_{a+1} .. rho_n on the best-test-epoch network).
    """
    if not trials:
        raise ValueError("summarize_trials needs at least one trial.")
    best = max(range(len(trials)), key=lambda t: trials[t]["acc"])
    best_val = max(range(len(trials)), key=lambda t: trials[t].get("val_acc", trials[t]["acc"]))
    converged = [t for t in trials if acc_star - t["acc"] <= k]
    pairs = len(trials[0]["rho"])
    pool, pick = (converged, min) if converged else (trials, max)
    chosen = [pick(pool, key=lambda t, j=j: t["rho"][j]) for j in range(pairs)]  # the trial behind each rho
    rho = [c["rho"][j] for j, c in enumerate(chosen)]
    rho_pairs = [c["rho_pairs"][j] for j, c in enumerate(chosen)] if all("rho_pairs" in c for c in chosen) else None
    rule = "lowest over the trials that converged" if converged else "largest over all trials (no trial converged)"
    acc_tilde = trials[best]["acc"]
    return {
        "acc_tilde": acc_tilde,
        "acc_tilde_unbiased": trials[best_val].get("test_at_val", trials[best_val]["acc"]),
        "diff": acc_tilde - acc_star,
        "best_trial": best,
        "best_val_trial": best_val,
        # both rules picked the same epoch of the same trial: one network (attacked once by the final AutoAttack)
        "same_selected_network": best == best_val and trials[best].get("best_epoch") is not None
        and trials[best].get("best_epoch") == trials[best].get("val_best_epoch"),
        "converged_trials": len(converged),
        "epochs": (sum(t["epochs_run"] for t in converged) / len(converged)) if converged else None,
        "epochs_best_trial": trials[best]["epochs_run"],
        "rho": rho,
        "rho_pairs": rho_pairs,
        "rho_rule": rule,
        "rho_best_trial": list(trials[best]["rho"]),
    }


def aggregate_pairs(per_seed: list[dict]) -> list[dict] | None:
    """Calibrated pairs over seeds: each number's mean, ``above_null`` only when every seed is above null,
    and ``<measure>_above_null_seeds`` the count of seeds that are."""
    lists = [m.get("rho_pairs") for m in per_seed]
    if not lists or any(p is None for p in lists):
        return None
    out = []
    for j, first in enumerate(lists[0]):
        pair = {}
        for key, value in first.items():
            values = [p[j][key] for p in lists]
            if key.endswith("above_null"):
                pair[key], pair[key + "_seeds"] = bool(all(values)), int(sum(bool(v) for v in values))
            elif isinstance(value, float):
                pair[key] = float(np.mean(values))
            else:
                pair[key] = value
        out.append(pair)
    return out


def best_epoch(curve: list[dict], key: str) -> int:
    """Index of the epoch with the largest ``key`` (the earliest on ties)."""
    if not curve:
        raise ValueError("best_epoch needs at least one epoch.")
    return max(range(len(curve)), key=lambda i: (curve[i][key], -i))


def aggregate_seeds(per_seed: list[dict], keys) -> dict:
    """Mean of each key over the seeds and, with two seeds or more, its 95% t-interval (``key_ci``).

    A ``_ci`` of None means one seed: no interval exists (see :func:`semirobust.inference.mean_interval`).
    List-valued keys (rho) are averaged element-wise.
    """
    if not per_seed:
        raise ValueError("aggregate_seeds needs at least one seed.")
    out = {}
    for key in keys:
        values = [m.get(key) for m in per_seed]  # a key measured on some seeds only (the final AutoAttack)
        if isinstance(values[0], list):
            out[key] = [float(np.mean(v)) for v in zip(*values)]
            continue
        values = [v for v in values if v is not None]
        out[key] = float(np.mean(values)) if values else None
        out[f"{key}_ci"] = mean_interval(values)[1] if len(values) >= 2 else None
    return out


#: the record's seed-aggregated metrics (mean and ``_ci``), as the issue lists them.
#: Scored on ``profile.test_scored`` images: acc_regular_attacked, acc_star, acc_sr, acc_tilde_unbiased and each
#: control's acc_tilde_<arm> (validation-selected); on the per-epoch images: acc_star_eval and the paper's
#: test-selected acc_tilde (diff = acc_tilde - acc_star_eval, on the same images); diff_unbiased = acc_tilde_unbiased
#: - acc_star (both scored): the paired difference of the design.
AGGREGATED = ("acc_regular_clean", "acc_regular_attacked", "acc_star", "acc_star_eval", "acc_star_clean", "acc_sr",
              "acc_tilde", "acc_tilde_unbiased", "diff", "diff_unbiased", "epochs", "grad_evals", "grad_evals_authors",
              "rho", "acc_star_autoattack", "acc_tilde_autoattack", "acc_tilde_unbiased_autoattack",
              "acc_star_autoattack_apgd_ce", "acc_tilde_autoattack_apgd_ce", "acc_tilde_unbiased_autoattack_apgd_ce",
              *(f"acc_tilde_{arm}" for arm in CONTROLS), *(f"acc_tilde_{arm}_paper" for arm in CONTROLS),
              *(f"acc_tilde_{arm}_autoattack" for arm in CONTROLS))


__all__ = ["AGGREGATED", "aggregate_pairs", "aggregate_seeds", "best_epoch", "summarize_trials"]
