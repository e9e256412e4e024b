"""What a Table 1 cell's arms say, read as a referee reads them: paired by seed, with intervals and one
pre-specified test per question.

The questions, each answered from the validation-selected networks scored on the same test images
(``acc_tilde_unbiased`` for Algorithm 1, ``acc_tilde_<arm>`` for a control; see
:mod:`semirobust.experiments.table1.arms`):

1. *Recovery* (the paper's claim): is Acc~ - Acc* within the equivalence margin? Two one-sided tests on the
   per-seed differences (:func:`semirobust.inference.equivalence_test`), which may answer "undecided".

Every paired difference has two intervals: the seed-only t-interval, and a two-level one that also redraws the
test images (:func:`semirobust.inference.two_level_interval`: the seeds' spread on one fixed set of images says
nothing of another draw of images). Readings and the equivalence answer use the wider of the two.
2. *What f*_a contributes*: Algorithm 1 against a frozen random and a frozen regular f_a (paired differences
   with 95% intervals: positive means the robust f*_a helps).
3. *Is adversarial training of f_b needed*: Algorithm 1 against standard training of f_b on f*_a (robust
   transfer learning).
4. *What freezing costs*: Algorithm 1 against fine-tuning the whole network adversarially.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from semirobust.config import MODEL_NAMES
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.experiments.table1.arms import ARMS, CONTROLS
from semirobust.experiments.table1.report import attack_label
from semirobust.inference import (
    equivalence_test,
    interval_answer,
    interval_reading,
    mean_and_half,
    paired_difference,
    two_level_interval,
)

#: the equivalence margin of the recovery test, in accuracy points (issue: 2 points, stated beside k).
EQUIVALENCE_MARGIN = 2.0
#: the reader's short names of the arms (table rows, figure ticks).
SHORT_NAMES = {"algorithm1": "Algorithm 1", "random_fa": "random f_a", "regular_fa": "regular f_a",
               "standard_fb": "standard f_b", "full_finetune": "full fine-tune"}
#: what each control's paired difference (Algorithm 1 minus the control) answers, positive and negative.
_QUESTIONS = {
    "random_fa": ("the robust f*_a helps over a random f_a", "a random f_a does better than f*_a"),
    "regular_fa": ("the robust f*_a helps over a regular f_a", "a regular f_a does better than f*_a"),
    "standard_fb": ("adversarial training of f_b adds robustness over standard training on f*_a",
                    "standard training of f_b on f*_a does better"),
    "full_finetune": ("freezing f*_a does better than fine-tuning the whole network",
                      "fine-tuning the whole network does better than freezing f*_a (freezing costs robustness)"),
}


def arm_values(record: dict, arm: str) -> list[float | None]:
    """Per seed, the arm's validation-selected accuracy on the scored images (None where not run)."""
    key = "acc_tilde_unbiased" if arm == "algorithm1" else f"acc_tilde_{arm}"
    return [seed.get(key) for seed in record["metrics"]["per_seed"]]


def arms_run(record: dict) -> list[str]:
    """The arms every seed of the cell ran, in the order of :data:`semirobust.experiments.table1.arms.ARMS`."""
    per_seed = record["metrics"]["per_seed"]
    return [arm for arm in ARMS if all(v is not None for v in arm_values(record, arm))] if per_seed else []


def scored_images(record: dict) -> int:
    """The number of test images every selected network of the cell was scored on."""
    return int(record["extra"].get("scored_images") or record["extra"]["eval_images"])


def _pairs(a: list, b: list) -> tuple[list, list]:
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _paired(a: list, b: list):
    a, b = _pairs(a, b)
    return paired_difference(a, b) if len(a) >= 2 else None


def _two_level(a: list, b: list, images: int, level: float = 0.95):
    a, b = _pairs(a, b)
    return two_level_interval(a, b, images, level) if len(a) >= 2 else None


def recovery(record: dict, margin: float = EQUIVALENCE_MARGIN) -> dict:
    """The recovery test of one cell: per-seed Acc~ - Acc* (both scored), its paired 95% interval and the
    equivalence test at ``margin``, beside the two-level interval (seeds and test images, 95% shown, 90% for the
    equivalence reading). The answer reads the wider of the two 90% intervals (``tost_low``/``tost_high``; the
    seed-only one is the TOST's). With one seed only the difference itself (no interval, no test)."""
    per_seed = record["metrics"]["per_seed"]
    tilde, star = _pairs([s.get("acc_tilde_unbiased") for s in per_seed], [s.get("acc_star") for s in per_seed])
    diffs = [x - y for x, y in zip(tilde, star)]
    out = {"differences": diffs, "n": len(diffs), "margin": float(margin), "mean": None, "low": None, "high": None,
           "two_level_low": None, "two_level_high": None, "images": scored_images(record), "answer": "undecided",
           "seed_answer": "undecided", "tost_low": None, "tost_high": None, "seeds_to_decide": None}
    if not diffs:
        return out
    out["mean"] = sum(diffs) / len(diffs)
    if len(diffs) >= 2:
        paired = paired_difference(diffs, [0.0] * len(diffs))
        test = equivalence_test(diffs, margin)
        wide, wide90 = (two_level_interval(tilde, star, out["images"], level) for level in (0.95, 0.90))
        low, high = min(test.low, wide90.low), max(test.high, wide90.high)
        out.update(low=paired.low, high=paired.high, two_level_low=wide.low, two_level_high=wide.high,
                   answer=interval_answer(low, high, margin), seed_answer=test.answer, tost_low=low, tost_high=high,
                   seeds_to_decide=test.seeds_to_decide)
    return out


def recovery_sentence(record: dict, result: dict | None = None) -> str:
    """The recovery test in words: the mean paired difference, its interval, the answer and what would decide."""
    result = result or recovery(record)
    k = float(record["config"]["k"])
    if result["mean"] is None:
        return "Acc~ was not measured."
    images = record["extra"].get("scored_images") or record["extra"].get("eval_images")
    if result["n"] < 2:
        return (f"Acc~ - Acc* = {result['mean']:+.1f} points on {images} test images from one seed: no interval, "
                "so no equivalence test (undecided).")
    text = (f"Acc~ - Acc* = {result['mean']:+.1f} points (95% interval over the seeds {result['low']:+.1f} to "
            f"{result['high']:+.1f}; over the seeds and the test images {result['two_level_low']:+.1f} to "
            f"{result['two_level_high']:+.1f}; {result['n']} seeds, paired, each scored on the same {images:,} test "
            f"images). Equivalence at a margin of ±{result['margin']:g} points (k = {k:g}, the paper's stopping "
            f"tolerance, is finer than one accuracy's standard error here), read on the wider of the two 90% "
            f"intervals, {result['tost_low']:+.1f} to {result['tost_high']:+.1f}: {result['answer']}")
    if result["answer"] != result["seed_answer"]:
        text += f" (the seeds alone, two one-sided tests, would answer: {result['seed_answer']})"
    if result["answer"] == "equivalent":
        return text + " (the interval lies inside the margin)."
    if result["answer"] == "not equivalent":
        return text + " (the interval lies outside the margin)."
    more = (f"about {result['seeds_to_decide']} seeds at this spread would narrow the seeds' interval enough"
            if result["seeds_to_decide"] else "no number of seeds at this spread would put the interval inside the "
            "margin: the mean itself is outside it")
    return text + f" at this power ({more}; more test images narrow the other)."


#: the claim status each answer of the equivalence test gives (semirobust.experiments.report.verdicts.STATUSES)
_STATUS = {"equivalent": "confirmed", "not equivalent": "not confirmed", "undecided": "undecided"}


def recovery_claim(record: dict, margin: float = EQUIVALENCE_MARGIN) -> tuple[str, str, str]:
    """The Table 1 verdict box: (result, status, reading). The claim: adversarially training only f_b on the
    frozen f*_a brings the accuracy under attack back to Acc*. Tested as equivalence of the validation-selected
    Acc~ and Acc* within ``margin`` points (two one-sided tests over the seeds, paired)."""
    result = recovery(record, margin)
    config = record["config"]
    sentence = recovery_sentence(record, result)
    name = f"{MODEL_NAMES.get(config['arch'], config['arch'])}, f_b = {config['fb_layers']}"
    if result["mean"] is None:
        return "Acc~ was not measured.", "not testable at this scale", "Not testable at this scale."
    status = _STATUS[result["answer"]] if result["n"] >= 2 else "undecided"
    readings = {"confirmed": f"Acc~ and Acc* are equivalent within ±{margin:g} points: consistent with the claim at "
                             "this scale.",
                "not confirmed": f"Acc~ stays more than {margin:g} points from Acc*: the claim does not hold here.",
                "undecided": "This run cannot tell equivalence from a difference of the margin's size: undecided."}
    return f"{name}: {sentence}", status, readings[status]


def control_differences(record: dict) -> pd.DataFrame:
    """Algorithm 1 minus each control, paired by seed: mean, 95% interval over the seeds (``low``, ``high``) and
    over the seeds and the test images (``two_level_low``, ``two_level_high``), n and the reading of the wider of
    the two (NaN where fewer than two seeds ran the control)."""
    base = arm_values(record, "algorithm1")
    columns = ["arm", "mean", "low", "high", "two_level_low", "two_level_high", "n", "reading"]
    rows = []
    for arm in CONTROLS:
        values = arm_values(record, arm)
        if all(v is None for v in values):
            continue
        paired = _paired(base, values)
        positive, negative = _QUESTIONS[arm]
        if paired is None:
            rows.append({"arm": arm, "mean": math.nan, "low": math.nan, "high": math.nan, "two_level_low": math.nan,
                         "two_level_high": math.nan, "n": 1, "reading": "one seed: no interval"})
            continue
        wide = _two_level(base, values, scored_images(record))
        rows.append({"arm": arm, "mean": paired.mean, "low": paired.low, "high": paired.high,
                     "two_level_low": wide.low, "two_level_high": wide.high, "n": paired.n,
                     "reading": interval_reading(min(paired.low, wide.low), max(paired.high, wide.high), positive,
                                                 negative, "no difference shown at this power")})
    return pd.DataFrame(rows, columns=columns)


def controls_sentences(record: dict) -> list[str]:
    """One sentence per control: Algorithm 1 minus the control with its interval, and what it reads."""
    out = []
    for row in control_differences(record).itertuples():
        label = ARMS[row.arm].label
        if math.isnan(row.mean):
            out.append(f"Against {label}: one seed, no interval.")
            continue
        out.append(f"Algorithm 1 minus {label}: {row.mean:+.1f} points (95% interval {row.low:+.1f} to "
                   f"{row.high:+.1f} over {row.n} seeds paired, {row.two_level_low:+.1f} to {row.two_level_high:+.1f} "
                   f"over the seeds and the test images): {row.reading}.")
    return out


def image_level_note(record: dict) -> str:
    """How the two-level intervals are drawn, stated for the page: the records keep one accuracy per network, no
    per-image outcomes, so the image level is a binomial model, conservative in both its assumptions."""
    images = scored_images(record)
    se = 100 * 0.5 / images ** 0.5
    return (f"Every network is scored on the same {images:,} test images, so the seeds' spread says nothing of "
            "another draw of test images: one accuracy's binomial standard error is up to "
            f"{se:.1f} points. The second interval of each paired difference resamples the seeds and redraws every "
            f"accuracy from its binomial on {images:,} images (a two-level bootstrap; the records keep one accuracy "
            "per network, not its per-image outcomes). Within one arm the seeds are redrawn together, as one shared "
            "image draw moves them (the largest image-level variance of a mean over seeds); the two arms of a "
            "difference are redrawn independently, although their outcomes on the same images are in practice "
            "positively correlated, which would narrow it: both choices make this interval conservative (too wide, "
            "never too narrow). Readings and the equivalence answer use the wider of the two intervals.")


def epochs_used(record: dict, arm: str) -> list[float]:
    """Per seed, the epochs ``arm``'s trials ran (mean over the trials of a seed)."""
    out = []
    for seed in record["metrics"]["per_seed"]:
        trials = (seed.get("arms", {}).get(arm) or {}).get("trials") or []
        runs = [t.get("epochs_run") for t in trials if t.get("epochs_run") is not None]
        out.append(sum(runs) / len(runs) if runs else math.nan)
    return out


def epochs_text(record: dict, arm: str) -> str:
    """``arm``'s epochs used, e.g. "1.7 (1-3) of 10": mean over seeds, range, of the budget E."""
    values = [v for v in epochs_used(record, arm) if not math.isnan(v)]
    if not values:
        return ""
    budget = record["config"].get("epochs")
    span = f" ({min(values):g}\u2013{max(values):g})" if min(values) != max(values) else ""
    return f"{sum(values) / len(values):.1f}{span} of {budget}"


def arms_table(record: dict) -> pd.DataFrame:
    """One row per network of the cell (the regular network, Acc*, Acc_sr and each arm's Acc~): the mean over
    seeds on the scored images with its 95% half-width, the paper's test-selected value where it applies, the full
    AutoAttack over the seeds where it ran, and the epochs each arm used of its budget. Numbers formatted for
    display."""
    per_seed = record["metrics"]["per_seed"]
    aa_seeds = sum(1 for s in per_seed if s.get("acc_star_autoattack") is not None)
    aa_column = (f"full AutoAttack ({record['extra'].get('final_autoattack_images')} images, "
                 f"{aa_seeds} seed{'s' if aa_seeds != 1 else ''})")

    def cell(values):
        mean, half = mean_and_half(values)
        if math.isnan(mean):
            return ""
        return f"{mean:.1f}" + (f"\u00a0±\u00a0{half:.1f}" if half is not None else "")

    rows = [{"network": "regular network", "under attack": cell([s.get("acc_regular_attacked") for s in per_seed]),
             "clean": cell([s.get("acc_regular_clean") for s in per_seed])},
            {"network": "robust network (Acc*)", "under attack": cell([s.get("acc_star") for s in per_seed]),
             "clean": cell([s.get("acc_star_clean") for s in per_seed]),
             aa_column: cell([s.get("acc_star_autoattack") for s in per_seed])},
            {"network": "(f*_a, f_b) before training (Acc_sr)", "under attack": cell([s.get("acc_sr") for s in per_seed])}]
    for arm in arms_run(record):
        paper_key = "acc_tilde" if arm == "algorithm1" else f"acc_tilde_{arm}_paper"
        aa_key = "acc_tilde_unbiased_autoattack" if arm == "algorithm1" else f"acc_tilde_{arm}_autoattack"
        rows.append({"network": f"{SHORT_NAMES[arm]}: {ARMS[arm].label.split(' (')[0]}",
                     "under attack": cell(arm_values(record, arm)),
                     "paper's rule (per-epoch images)": cell([s.get(paper_key) for s in per_seed]),
                     aa_column: cell([s.get(aa_key) for s in per_seed]),
                     "epochs used": epochs_text(record, arm)})
    frame = pd.DataFrame(rows).fillna("")
    return frame[[c for c in frame.columns if (frame[c] != "").any()]]


@book_style
def plot_arms(record: dict) -> plt.Figure:
    """Each arm's validation-selected accuracy under attack per seed (points joined by seed across arms, so the
    pairing is visible), the seeds' mean as a bar, and Acc* (mean over seeds) as a dashed line."""
    arms = arms_run(record)
    per_seed = record["metrics"]["per_seed"]
    fig, axes = book_figure(1, height=3.4)
    ax = axes[0, 0]
    xs = list(range(len(arms)))
    for s in range(len(record["metrics"]["seeds"])):
        ys = [arm_values(record, arm)[s] for arm in arms]
        ax.plot(xs, ys, marker="o", color="0.55", alpha=0.7, lw=0.8, ms=4,
                label="one seed" if s == 0 else None)
    means = [mean_and_half(arm_values(record, arm))[0] for arm in arms]
    ax.bar(xs, means, width=0.55, color="#4c72b0", alpha=0.35, label="mean over seeds")
    acc_star = mean_and_half([s.get("acc_star") for s in per_seed])[0]
    ax.axhline(acc_star, ls="--", color="#c44e52", lw=1.2, label=f"Acc* = {acc_star:.1f}")
    acc_sr = mean_and_half([s.get("acc_sr") for s in per_seed])[0]
    ax.axhline(acc_sr, ls=":", color="0.3", lw=1.0, label=f"Acc_sr = {acc_sr:.1f}")
    ax.set_xticks(xs, [SHORT_NAMES[a] for a in arms], rotation=15)
    ax.set_ylabel("accuracy under attack (%)")
    ax.set_title(f"{MODEL_NAMES.get(record['config']['arch'], record['config']['arch'])}, f_b = "
                 f"{record['config']['fb_layers']}: each arm after training")
    ax.legend(loc="best", frameon=False)
    return fig


def plot_arms_caption(record: dict) -> str:
    """What :func:`plot_arms` shows, with n."""
    extra = record["extra"]
    images = extra.get("scored_images") or extra.get("eval_images")
    return (f"Accuracy under attack ({attack_label(record)}, eps {record['config']['eps'] * 255:g}/255) of each "
            f"arm's validation-selected network on the same {images:,} test images, one grey line per seed ({len(record['metrics']['seeds'])} seeds; a line joins "
            "the arms of one seed, which start from the same regular and robust networks), bars the mean over "
            "seeds; dashed: Acc* of the robust network, dotted: Acc_sr of (f*_a, f_b) before any training.")


def glue_values(record: dict, margin: float = EQUIVALENCE_MARGIN) -> dict:
    """The values the Table 1 notebook glues for the design (issue names), computed from the record."""
    result = recovery(record, margin)
    m = record["metrics"]
    values = {"n_seeds": len(m["seeds"]), "test_images_scored": scored_images(record),
              "diff_paired": _round(result["mean"]), "diff_paired_low": _round(result["low"]),
              "diff_paired_high": _round(result["high"]), "diff_two_level_low": _round(result["two_level_low"]),
              "diff_two_level_high": _round(result["two_level_high"]), "equivalence": result["answer"],
              "equivalence_margin": float(margin)}
    for arm in CONTROLS:
        mean, _ = mean_and_half(arm_values(record, arm))
        values[f"acc_tilde_{arm}"] = "not run" if math.isnan(mean) else round(mean, 1)
    return values


def _round(value, digits: int = 1):
    return "no interval" if value is None else round(float(value), digits)


__all__ = ["EQUIVALENCE_MARGIN", "SHORT_NAMES", "arm_values", "arms_run", "scored_images", "recovery", "recovery_sentence",
           "recovery_claim", "image_level_note",
           "control_differences", "controls_sentences", "epochs_used", "epochs_text", "arms_table", "plot_arms", "plot_arms_caption", "glue_values"]
