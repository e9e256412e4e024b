"""The supplementary's attacks and budgets (Tables S2-S4 shape) on the primary cell's final networks.

Evaluation only, no retraining: the final networks of a finished seed (the regular network, Acc*'s robust one,
(f*_a, f_b) before training, Algorithm 1's validation-selected Acc~ and each control arm's) face FGSM, I-FGSM and
PGD (the paper's step schedule: step 1/255, 10, 20, 36 iterations at 8, 16, 32/255), APGD-CE (AutoAttack's first
attack, the standard 100 iterations) at each of the paper's budgets, and C&W (L2, minimum norm: no budget, run
once), on the scored test images of the cell (the same images for every network). Training stays at the profile's
budget. Each (network, attack, budget) is one record (kind ``budget_eval``), so a rerun reads it.
"""
from __future__ import annotations

import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from semirobust.attacks import adversarial_accuracy, make_attack
from semirobust.config import PAPER_BUDGETS, RunConfig, mean_interval
from semirobust.data import stratified_indices
from semirobust.experiments.algorithm1 import final_networks
from semirobust.experiments.evaluation import Evaluation
from semirobust.experiments.figures import book_figure, book_style
from semirobust.progress import announce
from semirobust.results import ResultsStore
from semirobust.utils import check_output_dir, default_cache_dir, resolve_device

KIND = "budget_eval"
BUDGET_VERSION = "1"
#: the attacks of the table, in the order it shows them (C&W has no budget: one column)
ATTACK_NAMES = {"fgsm": "FGSM", "ifgsm": "I-FGSM", "pgd": "PGD", "apgd-ce": "APGD-CE", "cw": "C&W (L2)"}
LINF = ("fgsm", "ifgsm", "pgd", "apgd-ce")
#: the networks, in the order the table shows them, with the reader's names
NETWORK_NAMES = {"regular": "regular network", "robust": "Acc* (robust network)", "semirobust": "Acc_sr (f*_a, f_b)",
                 "algorithm1": "Acc~ (Algorithm 1)", "random_fa": "random f_a", "regular_fa": "regular f_a",
                 "standard_fb": "standard f_b", "full_finetune": "full fine-tune"}


def _attack(model, name: str, eps255: int | None, profile):
    if name == "apgd-ce":
        return make_attack("autoattack", model, eps255 / 255, attacks=["apgd-ce"])
    if name == SCORE_ATTACK:  # the profile's scoring attack, on the same images as the standard one
        return make_attack("autoattack", model, eps255 / 255, attacks=["apgd-ce"], apgd_iters=profile.score_apgd_iters)
    if name == "cw":
        return make_attack("cw", model, 0.0)
    return make_attack(name, model, eps255 / 255)


#: the profile's scoring attack (APGD-CE with ``score_apgd_iters``), run beside the standard one at the training
#: budget so that the two are compared on the same images (not a column of the table)
SCORE_ATTACK = "apgd-score"


def grid(profile=None, eps255: int | None = None) -> list[tuple[str, int | None]]:
    """Every (attack, budget) of the table: the L-inf attacks at each paper budget, C&W once; with a ``profile``
    whose scores are a shortened APGD-CE, that attack too at the training budget ``eps255``."""
    cells = [(a, e) for e in PAPER_BUDGETS for a in LINF] + [("cw", None)]
    if profile is not None and profile.score_apgd_iters not in (None, 100) and eps255 is not None:
        cells.append((SCORE_ATTACK, eps255))
    return cells


def table_images(evaluation: Evaluation) -> tuple:
    """The images of the table: the profile's ``budget_images`` stratified images of the scored ones (the same
    for every network; all of them when None)."""
    X, y = evaluation.scored
    n = evaluation.profile.budget_images
    if n is None or n >= len(y):
        return X, y
    idx = np.sort(stratified_indices(y, n, 0))
    return X[idx], y[idx]


def run_budget_seed(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> list[dict]:
    """Every final network of seed ``config.seed`` under every attack and budget of :func:`grid`; returns the
    records (one per network, attack and budget)."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a semirobust.config.RunConfig, got {type(config).__name__}.")
    store = ResultsStore(check_output_dir(ResultsStore(results_dir).root, "results_dir"))
    check_output_dir(cache_dir if cache_dir is not None else default_cache_dir(), "cache_dir")
    device = resolve_device(config.device)
    evaluation = Evaluation(config, config.resolved_profile, device, progress)
    X, y = table_images(evaluation)
    networks = final_networks(config, results_dir=results_dir, cache_dir=cache_dir)
    records, start_all = [], time.perf_counter()
    for name, (identity, load) in networks.items():
        model = None
        for attack, eps255 in grid(config.resolved_profile, round(config.eps * 255)):
            key = {**identity, "attack": attack, "eps255": eps255, "images": int(len(y)), "seed": config.seed,
                   "dataset": config.dataset, "version": BUDGET_VERSION}
            record = store.read(KIND, key)
            if record is None:
                model = model or load()
                if model is None:
                    break
                start = time.perf_counter()
                acc = adversarial_accuracy(model, (X, y), _attack(model, attack, eps255, config.resolved_profile),
                                           device=device,
                                           batch_size=evaluation.batch_size, progress=progress)
                record = store.write(KIND, key, {"accuracy": acc}, profile=config.resolved_profile.name,
                                     seed=config.seed, device=device, wall_time_s=time.perf_counter() - start,
                                     extra={"network_name": name})
            records.append({**record, "network_name": name})
    announce(f"attacks and budgets, {config.arch} seed {config.seed}: {len(networks)} networks in "
             f"{time.perf_counter() - start_all:.0f} s")
    return records


def budget_configs(config: RunConfig) -> list[RunConfig]:
    """One config per seed of the profile's ``budget_table_seeds``."""
    return [dataclasses.replace(config, seed=config.seed + s) for s in config.resolved_profile.budget_table_seeds]


def budget_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (network, attack, budget, seed) with the accuracy (percent)."""
    rows = [{"network": r["network_name"], "attack": r["config"]["attack"], "eps255": r["config"]["eps255"],
             "seed": r["config"]["seed"], "accuracy": r["metrics"]["accuracy"]} for r in records]
    return pd.DataFrame(rows, columns=["network", "attack", "eps255", "seed", "accuracy"])


def _mean(frame: pd.DataFrame, network: str, attack: str, eps255) -> float | None:
    rows = frame[(frame.network == network) & (frame.attack == attack) &
                 ((frame.eps255 == eps255) if eps255 is not None else frame.eps255.isna())]
    return float(rows.accuracy.mean()) if len(rows) else None


def budget_tables(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Per budget, a table of the networks (rows) under each L-inf attack, with C&W (no budget) in the first."""
    networks = [n for n in NETWORK_NAMES if n in set(frame.network)]
    out = {}
    for i, eps255 in enumerate(PAPER_BUDGETS):
        rows = []
        for network in networks:
            row = {"Network": NETWORK_NAMES[network]}
            for attack in LINF:
                value = _mean(frame, network, attack, eps255)
                row[ATTACK_NAMES[attack]] = "–" if value is None else f"{value:.1f}"
            if i == 0:
                value = _mean(frame, network, "cw", None)
                row[ATTACK_NAMES["cw"]] = "–" if value is None else f"{value:.1f}"
            rows.append(row)
        out[eps255] = pd.DataFrame(rows)
    return out


@book_style
def plot_budgets(frame: pd.DataFrame) -> plt.Figure:
    """Accuracy against the budget, one panel per L-inf attack, one line per network (2 x 2 panels)."""
    fig, axes = book_figure(4, height=5.6, ncols=2)
    networks = [n for n in NETWORK_NAMES if n in set(frame.network) and n != "semirobust"]
    colors = dict(zip(networks, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, attack in zip(axes.flat, LINF):
        for network in networks:
            ys = [_mean(frame, network, attack, e) for e in PAPER_BUDGETS]
            ax.plot(PAPER_BUDGETS, ys, marker="o", ms=4, lw=1.4, color=colors[network],
                    ls="--" if network == "regular" else "-", label=NETWORK_NAMES[network])
        ax.set_title(ATTACK_NAMES[attack])
        ax.set_xticks(PAPER_BUDGETS, [f"{e}/255" for e in PAPER_BUDGETS])
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy under attack (%)")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    return fig


def budget_caption(frame: pd.DataFrame, images: int) -> str:
    seeds = sorted(set(frame.seed))
    return (f"Accuracy under attack (%) of the final networks of seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds))} on the same {images:,} test images, against the budget, one panel per "
            "L-inf attack (FGSM, I-FGSM and PGD with the paper's schedule, APGD-CE with the standard 100 iterations); "
            "the dashed line is the regular network. Evaluation only: every network was trained at the profile's "
            "budget. One evaluation per point (no interval: a binomial standard error of at most "
            f"{100 * 0.5 / np.sqrt(images):.1f} points).")


def attack_type_reading(frame: pd.DataFrame, eps255: int = 8) -> dict:
    """The paper's reading, "attack type has little impact", in numbers at ``eps255``: the spread (max - min)
    of Acc* and of Acc~ over the four L-inf attacks, and of Diff = Acc~ - Acc* (what Algorithm 1 is judged by)."""
    values = {}
    for attack in LINF:
        star, tilde = _mean(frame, "robust", attack, eps255), _mean(frame, "algorithm1", attack, eps255)
        if star is not None and tilde is not None:
            values[attack] = (star, tilde, tilde - star)
    if len(values) < 2:
        return {}
    stars, tildes, diffs = zip(*values.values())
    weakest = max(values, key=lambda a: values[a][0])
    strongest = min(values, key=lambda a: values[a][0])
    return {"eps255": eps255, "per_attack": values, "star_spread": max(stars) - min(stars),
            "tilde_spread": max(tildes) - min(tildes), "diff_spread": max(diffs) - min(diffs),
            "diff_low": min(diffs), "diff_high": max(diffs), "weakest": weakest, "strongest": strongest}


def attack_type_sentence(frame: pd.DataFrame, eps255: int = 8) -> str:
    """:func:`attack_type_reading` as a sentence, with what it says of the paper's reading."""
    r = attack_type_reading(frame, eps255)
    if not r:
        return "The attack-and-budget table has not been run for Acc* and Acc~ here."
    star = {a: v[0] for a, v in r["per_attack"].items()}
    verdict = ("the accuracies depend on the attack, but Diff, the number Algorithm 1 is judged by, moves by only "
               f"{r['diff_spread']:.1f} points" if r["star_spread"] > 5 and r["diff_spread"] <= 2 else
               f"attack type moves Diff by {r['diff_spread']:.1f} points" if r["diff_spread"] > 2 else
               "attack type has little impact on the accuracies and on Diff")
    return (f"At {eps255}/255 the four L-inf attacks leave the robust network between {star[r['strongest']]:.1f}% "
            f"({ATTACK_NAMES[r['strongest']]}) and {star[r['weakest']]:.1f}% ({ATTACK_NAMES[r['weakest']]}), a spread "
            f"of {r['star_spread']:.1f} points (Acc~: {r['tilde_spread']:.1f}); Diff = Acc~ - Acc* lies between "
            f"{r['diff_low']:+.1f} and {r['diff_high']:+.1f} points across them: {verdict}.")


def score_check(frame: pd.DataFrame, eps255: int) -> dict:
    """The profile's shortened scoring attack against the standard APGD-CE on the same images and networks
    (the table's ``apgd-score`` and ``apgd-ce`` rows at ``eps255``): the per-network gaps (standard minus score:
    negative when the standard attack finds more), their mean with its interval, and the largest magnitude."""
    gaps = {}
    for network in dict.fromkeys(frame.network):
        standard, score = _mean(frame, network, "apgd-ce", eps255), _mean(frame, network, SCORE_ATTACK, eps255)
        if standard is not None and score is not None:
            gaps[network] = standard - score
    if not gaps:
        return {}
    values = list(gaps.values())
    mean, half = mean_interval(values) if len(values) >= 2 else (values[0], None)
    return {"gaps": gaps, "mean": mean, "half": half, "largest": max(values, key=abs)}


def score_check_sentence(frame: pd.DataFrame, eps255: int, score_iters: int | None) -> str:
    """:func:`score_check` as the sentence the page shows."""
    check = score_check(frame, eps255)
    if not check:
        return ("The scores here are the standard APGD-CE itself (no shortened scoring attack to compare)."
                if score_iters in (None, 100) else "No network has both the scoring and the standard APGD-CE.")
    interval = (f" (95% interval {check['mean'] - check['half']:+.2f} to {check['mean'] + check['half']:+.2f})"
                if check["half"] is not None else "")
    return (f"Standard APGD-CE (100 iterations) minus the scoring attack (APGD-CE, {score_iters} iterations) on the "
            f"same images, over {len(check['gaps'])} networks at {eps255}/255: mean {check['mean']:+.2f} points"
            f"{interval}, largest {check['largest']:+.2f}; no difference between the attacks would read 0.")


#: the largest range of Diff over the L-inf attacks that still reads as "little impact" (points)
LITTLE_IMPACT = 2.0


def attack_type_claim(frame: pd.DataFrame, eps255: int, images: int) -> tuple[str, str, str]:
    """The page's verdict on "attack type has little impact": ``(result sentence, status, reading)``; status is
    ``confirmed`` when Diff's range over the four L-inf attacks is at most :data:`LITTLE_IMPACT` points."""
    reading = attack_type_reading(frame, eps255)
    sentence = attack_type_sentence(frame, eps255)
    if not reading:
        return sentence, "undecided", "Not measured."
    status = "confirmed" if reading["diff_spread"] <= LITTLE_IMPACT else "not confirmed"
    read = (f"Diff moves by at most {LITTLE_IMPACT:g} points across the attacks: consistent with the paper's reading "
            "for what Algorithm 1 is judged by." if status == "confirmed" else
            f"Diff moves by more than {LITTLE_IMPACT:g} points across the attacks: the attack type matters for the "
            "verdict here.")
    seeds = sorted(set(frame.seed))
    read += (f" One seed's networks: no interval across seeds (each accuracy has a binomial standard error of up to "
             f"{50 / images ** 0.5:.1f} points)." if len(seeds) == 1 else f" Means over {len(seeds)} seeds.")
    return sentence, status, read


__all__ = ["KIND", "ATTACK_NAMES", "LINF", "NETWORK_NAMES", "SCORE_ATTACK", "LITTLE_IMPACT", "grid", "table_images",
           "run_budget_seed", "budget_configs", "budget_frame", "budget_tables", "plot_budgets", "budget_caption",
           "attack_type_reading", "attack_type_sentence", "attack_type_claim", "score_check", "score_check_sentence"]
