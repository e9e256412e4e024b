"""The ``budgets`` page's tables, figure and sentences (Tables S2-S4 shape): the accuracy of each final network
under each attack and budget, read from the ``budget_eval`` records that
:mod:`semirobust.experiments.supplementary.budgets` writes; nothing is computed anew."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from semirobust.config import PAPER_BUDGETS
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.experiments.supplementary.budgets import ATTACK_NAMES, LINF, NETWORK_NAMES, SCORE_ATTACK
from semirobust.inference import equivalence_test, mean_interval


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
               "the accuracies move by at most 5 points and Diff by at most 2 across them")
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


def cw_norms_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (network, seed) of the C&W norm records (:func:`semirobust.experiments.supplementary.budgets.run_cw_norms`):
    the clean-correct images, C&W's successes among them (count and percent), the median L2 of their perturbations
    and the values per image (``pixels``: C x H x W)."""
    columns = ["network", "seed", "clean_correct", "successes", "success_rate", "median_l2", "pixels"]
    rows = [{"network": r["network_name"], "seed": r["config"]["seed"],
             **{k: r["metrics"].get(k) for k in columns[2:]}} for r in records]
    return pd.DataFrame(rows, columns=columns)


def cw_median_l2(frame: pd.DataFrame, network: str = "robust") -> float | None:
    """The median L2 of C&W's successful perturbations on ``network`` (the seeds' medians averaged); None when
    it has no record or C&W flipped none of its images."""
    values = frame[frame.network == network].median_l2.dropna()
    return float(values.mean()) if len(values) else None


def cw_norms_sentence(frame: pd.DataFrame, eps255: int = 8) -> str:
    """Per network, the share of its clean-correct images that C&W flipped and the median L2 norm of those
    perturbations (pixel scale), the seeds pooled, beside the L2 of an L-inf step of ``eps255`` on every value of
    the image: the reading of a C&W accuracy that the accuracy alone cannot give."""
    if frame.empty:
        return "C&W's perturbations have not been measured here."
    parts = []
    for network in [n for n in NETWORK_NAMES if n in set(frame.network)]:
        rows = frame[frame.network == network]
        correct, flipped = int(rows.clean_correct.sum()), int(rows.successes.sum())
        median = cw_median_l2(frame, network)
        parts.append(f"{NETWORK_NAMES[network]} {100 * flipped / correct:.0f}%" if correct else
                     f"{NETWORK_NAMES[network]} –")
        parts[-1] += f" (median L2 {median:.2f})" if median is not None else ""
    pixels = frame.pixels.dropna()
    scale = (f" For scale, an L-inf change of {eps255}/255 on every value of these images has an L2 of "
             f"{eps255 / 255 * np.sqrt(float(pixels.iloc[0])):.2f}." if len(pixels) else "")
    return ("C&W (L2, the library's defaults) flipped, of each network's clean-correct images (with the median L2 "
            "norm of its successful perturbations, pixels in [0, 1]): " + "; ".join(parts) + "." + scale)


def cw_strength_frame(records: list[dict]) -> pd.DataFrame:
    """C&W's accuracy (%) per network (rows, in the table's order) and setting (columns "c = 1, 50 steps", ...) from
    the records of :func:`semirobust.experiments.supplementary.budgets.run_cw_strength`, the seeds averaged."""
    rows = [{"Network": NETWORK_NAMES.get(r["network_name"], r["network_name"]),
             "setting": f"c = {r['config']['c']:g}, {r['config']['steps']} steps", "accuracy": r["metrics"]["accuracy"]}
            for r in records]
    if not rows:
        return pd.DataFrame(columns=["Network"])
    frame = pd.DataFrame(rows).pivot_table(index="Network", columns="setting", values="accuracy", aggfunc="mean",
                                           sort=False)
    return frame.reset_index().rename_axis(columns=None)


def cw_strength_sentence(frame: pd.DataFrame, margin: float = 5.0) -> str:
    """Whether a stronger C&W (larger c, more steps) takes each network's accuracy more than ``margin`` points below
    the table's setting (the first column): then the table's C&W reads the attack's weakness, not the network."""
    if frame.empty or frame.shape[1] < 3:
        return "C&W at stronger settings has not been run here."
    settings = list(frame.columns[1:])
    parts, weak = [], []
    for _, row in frame.iterrows():
        values = [float(row[s]) for s in settings]
        parts.append(f"{row['Network']} " + ", ".join(f"{v:.1f}%" for v in values))
        if values[0] - min(values) > margin:
            weak.append(row["Network"])
    reading = (f"the table's setting under-reads C&W on {', '.join(weak)} (a stronger setting takes more than "
               f"{margin:g} points more)" if weak else
               f"no stronger setting takes any network more than {margin:g} points below the table's: the accuracy "
               "it leaves is the network's, not a weak attack's")
    return (f"C&W at {', '.join(settings)} (accuracy left, %): " + "; ".join(parts) + f"; {reading}.")


#: the equivalence margin of "little impact" (points): each L-inf attack's Diff within this of the reference's
LITTLE_IMPACT = 2.0
#: the attack the others' Diff is compared with: APGD-CE, the scoring attack of Table 1
REFERENCE_ATTACK = "apgd-ce"


def seed_diffs(frame: pd.DataFrame, eps255: int) -> dict[int, dict[str, float]]:
    """Per seed, Diff = Acc~ - Acc* under each L-inf attack at ``eps255``, for the seeds that have both networks
    under every L-inf attack."""
    out = {}
    for seed in sorted(set(frame.seed)):
        rows = frame[frame.seed == seed]
        diffs = {}
        for attack in LINF:
            star, tilde = _mean(rows, "robust", attack, eps255), _mean(rows, "algorithm1", attack, eps255)
            if star is not None and tilde is not None:
                diffs[attack] = tilde - star
        if len(diffs) == len(LINF):
            out[int(seed)] = diffs
    return out


def attack_type_equivalence(frame: pd.DataFrame, eps255: int, margin: float = LITTLE_IMPACT) -> dict:
    """The book's interval rule on "attack type has little impact": for each L-inf attack, the per-seed
    difference of its Diff from :data:`REFERENCE_ATTACK`'s, tested for equivalence within ``margin`` points
    (two one-sided tests, :func:`semirobust.inference.equivalence_test`, 90% interval). ``status``: confirmed when
    every attack is equivalent (an intersection-union test: no correction needed), not confirmed when one is
    shown beyond the margin, undecided otherwise, and always undecided with fewer than two seeds (no interval)."""
    per_seed = seed_diffs(frame, eps255)
    out = {"seeds": len(per_seed), "margin": float(margin), "reference": REFERENCE_ATTACK, "tests": {}}
    if len(per_seed) < 2:
        return {**out, "status": "undecided"}
    for attack in LINF:
        if attack != REFERENCE_ATTACK:
            out["tests"][attack] = equivalence_test([d[attack] - d[REFERENCE_ATTACK] for d in per_seed.values()], margin)
    answers = [t.answer for t in out["tests"].values()]
    status = ("confirmed" if all(a == "equivalent" for a in answers) else
              "not confirmed" if "not equivalent" in answers else "undecided")
    if status == "confirmed" and not has_interval(out):
        status = "undecided"  # seeds that agree exactly give a point, not an interval: never confirmed on it
    return {**out, "status": status}


def has_interval(test: dict) -> bool:
    """Whether every attack's test of :func:`attack_type_equivalence` has an interval of positive width (two seeds
    or more whose differences vary: identical differences give a point, no interval)."""
    tests = test.get("tests") or {}
    return bool(tests) and all(np.isfinite([t.low, t.high]).all() and t.high > t.low for t in tests.values())


def attack_type_interval(test: dict) -> dict:
    """The bounds the claim is judged on: the lowest ``low`` and the highest ``high`` of the attacks' 90% intervals
    (each L-inf attack's Diff minus the reference's, per seed), with the margin; ``low`` and ``high`` None when
    there is no interval (:func:`has_interval`)."""
    if not has_interval(test):
        return {"low": None, "high": None, "margin": test["margin"], "seeds": test["seeds"]}
    tests = test["tests"].values()
    return {"low": float(min(t.low for t in tests)), "high": float(max(t.high for t in tests)),
            "margin": test["margin"], "seeds": test["seeds"]}


def attack_type_interval_text(test: dict) -> str:
    """:func:`attack_type_interval` in words: ``[-0.84, +1.10] points against ±2 (3 seeds)``, or why there is none."""
    bounds = attack_type_interval(test)
    seeds = f"{bounds['seeds']} seed{'s' if bounds['seeds'] != 1 else ''}"
    if bounds["low"] is None:
        why = "fewer than two seeds" if bounds["seeds"] < 2 else "an attack's per-seed differences do not vary"
        return f"no interval ({seeds}: {why})"
    return (f"[{bounds['low']:+.2f}, {bounds['high']:+.2f}] points against ±{bounds['margin']:g} ({seeds}; the "
            "widest bounds of the attacks' 90% intervals)")


def attack_type_claim(frame: pd.DataFrame, eps255: int, images: int) -> tuple[str, str, str]:
    """The page's verdict on "attack type has little impact": ``(result sentence, status, reading)``, the status
    from :func:`attack_type_equivalence` (the spreads of :func:`attack_type_reading` are shown, never judged:
    a range from one seed has no interval)."""
    reading = attack_type_reading(frame, eps255)
    sentence = attack_type_sentence(frame, eps255)
    if not reading:
        return sentence, "undecided", "Not measured."
    test = attack_type_equivalence(frame, eps255)
    reference = ATTACK_NAMES[REFERENCE_ATTACK]
    rule = (f"The rule: each L-inf attack's Diff minus {reference}'s, per seed, must lie within ±{test['margin']:g} "
            "points by an equivalence test (two one-sided tests, 90% interval) for the claim to be confirmed.")
    if test["seeds"] < 2:
        read = (f"{rule} The budgets study has {test['seeds']} seed{'s' if test['seeds'] != 1 else ''} with both "
                f"networks under every attack: no interval, undecided (each accuracy has a binomial standard error "
                f"of up to {50 / images ** 0.5:.1f} points).")
        return sentence, "undecided", read
    parts = "; ".join(f"{ATTACK_NAMES[a]}: {t.mean:+.2f} [{t.low:+.2f}, {t.high:+.2f}] ({t.answer})"
                      for a, t in test["tests"].items())
    read = f"{rule} Over {test['seeds']} seeds, Diff minus {reference}'s Diff: {parts}."
    if not has_interval(test):
        read += " An attack's per-seed differences do not vary: a point, not an interval, so the claim stays undecided."
    return sentence, test["status"], read


def attack_type_glue(frame: pd.DataFrame, eps255: int) -> dict:
    """The claim's interval as the page glues it: ``attack_type_low`` and ``attack_type_high`` (points, signed, or
    ``–`` without an interval) and ``attack_type_interval`` (:func:`attack_type_interval_text`)."""
    test = attack_type_equivalence(frame, eps255)
    bounds = attack_type_interval(test)
    return {"attack_type_low": "–" if bounds["low"] is None else f"{bounds['low']:+.2f}",
            "attack_type_high": "–" if bounds["high"] is None else f"{bounds['high']:+.2f}",
            "attack_type_interval": attack_type_interval_text(test)}


__all__ = ["LITTLE_IMPACT", "REFERENCE_ATTACK", "seed_diffs", "attack_type_equivalence", "has_interval",
           "attack_type_interval", "attack_type_interval_text", "attack_type_glue", "budget_frame", "budget_tables", "plot_budgets",
           "budget_caption", "attack_type_reading", "attack_type_sentence", "attack_type_claim", "score_check",
           "score_check_sentence", "cw_norms_frame", "cw_median_l2", "cw_norms_sentence", "cw_strength_frame",
           "cw_strength_sentence"]
