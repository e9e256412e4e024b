"""Does rho predict success? The paper's claim, tested by one pre-specified primary analysis.

Section 3.2 reads a trial that fails to reach Acc* as one whose first pairs of f_b show rho close to 0.
The analysis was fixed before the results were read (issue 23); this docstring is its full statement:

* **Unit**: a trial of any arm of any cell (Algorithm 1's and the controls', e.g. a frozen *random* f_a,
  which is designed to fail). **Cluster**: (network, data set, seed): the trials of one seed share the
  seed's regular and robust networks, so they are not independent draws.
* **Outcome**: the trial's shortfall, Acc*_eval minus the trial's accuracy, both on the per-epoch test
  images (the trial's accuracy is its best per-epoch accuracy on those images).
* **Primary measure**: the excess over its within-class permutation null, at the junction pair (rho_{a+1}), of
  the measure the dependence study shows able to detect dependence at the records' sample size
  (:func:`semirobust.experiments.rho.detection.primary_measure`: KSG or CKA, chosen by that rule alone, never by
  the trials' outcomes); EDGE's rho (the paper's) when ``measure="rho"``. The other of KSG and CKA is the
  cross-check.
* **Primary test**: Spearman's r between the primary measure and the shortfall *within arm* (``within_arm``:
  ranks taken within each arm, :mod:`semirobust.experiments.rho.within_arm`; the arms differ by design, a random
  f_a fails by construction, so a correlation pooled across arms mostly compares arms and is exploratory only),
  with a 95% percentile interval from a *cluster* bootstrap (whole clusters resampled,
  :func:`semirobust.inference.cluster_bootstrap`).
  The claim predicts r < 0 (less dependence beyond chance, larger shortfall). "Confirmed" only when the
  whole interval lies below 0; "not confirmed" when it lies above 0 or the literal test below goes
  against the claim; otherwise "undecided".
* **The paper's literal claim**: among failing trials (shortfall above a margin of 2 points) against
  succeeding ones, how many have rho_{a+1} *not* above its null.

Every other correlation (raw rho, KSG, CKA, later pairs, within cells, one data set) is exploratory,
with the same cluster interval and a Holm-adjusted p-value (:func:`exploratory_correlations`).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats

from semirobust.config import DATASET_NAMES, MODEL_NAMES
from semirobust.experiments.report.markup import as_sentence
from semirobust.experiments.report.verdicts import reading
from semirobust.experiments.rho.within_arm import within_arm_correlation
from semirobust.inference import cluster_bootstrap_draws, holm, percentile_reading

#: measures whose calibrated pairs are read (``rho``: EDGE bits; ``ksg``: KSG on PCA, bits; ``cka``: linear CKA).
MEASURES = ("rho", "ksg", "cka")
#: the primary measure and the cross-check (columns of :func:`trial_frame`).
PRIMARY = "rho_excess"
CROSS_CHECK = "cka_excess"
#: a trial fails when its shortfall exceeds this many accuracy points (the literal test).
FAIL_MARGIN = 2.0
PRIMARY_MEASURE_TEXT = "rho_{a+1} minus the mean of its within-class permutation null (EDGE, bits)"
#: each measure's excess at the junction in words, and its short name in sentences.
MEASURE_TEXTS = {"rho": PRIMARY_MEASURE_TEXT,
                 "ksg": "KSG (on PCA, bits) at the junction pair minus the mean of its within-class permutation null",
                 "cka": "linear CKA at the junction pair minus the mean of its within-class permutation null"}
SHORT_NAMES = {"rho": "rho_{a+1}", "ksg": "KSG at the junction", "cka": "CKA at the junction"}
#: why a correlation pooled over the arms decides nothing.
POOLED_REASON = ("the arms differ by design (a frozen random f_a fails by construction and shows little dependence), "
                 "so a correlation pooled across arms mostly compares arms")
OUTCOME_TEXT = "the shortfall Acc*_eval minus the trial's accuracy (per-epoch test images)"
TRIAL_COLUMNS = ("model", "dataset", "fb_layers", "seed", "arm", "trial", "cluster", "pair", "from_fa", "acc",
                 "acc_star_eval", "shortfall")


def _pair_value(pair: dict, key: str) -> float:
    value = pair.get(key)
    return math.nan if value is None else float(value)


def _above_null(pair: dict, measure: str):
    """The pair's own flag (``<measure>_above_null``, from the permutation p-value); where it is missing, above
    ``<measure>_null_high`` or else above the null's mean + 2 sd; None when the pair has no null at all."""
    flag = pair.get(f"{measure}_above_null")
    if flag is not None:
        return bool(flag)
    value = pair.get(measure)
    high = pair.get(f"{measure}_null_high")
    if high is None and pair.get(f"{measure}_null_mean") is not None and pair.get(f"{measure}_null_sd") is not None:
        high = pair[f"{measure}_null_mean"] + 2 * pair[f"{measure}_null_sd"]
    return None if value is None or high is None else bool(value > high)


def _seed_trials(seed_metrics: dict):
    """(arm, trial dict) of every arm of one seed; records without ``arms`` hold Algorithm 1's trials alone."""
    arms = seed_metrics.get("arms")
    if arms:
        for arm, found in arms.items():
            for trial in found.get("trials") or []:
                yield trial.get("arm", arm), trial
    else:
        for trial in seed_metrics.get("trials") or []:
            yield trial.get("arm", "algorithm1"), trial


def trial_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (cell, seed, arm, trial, layer pair) of ``table1`` records.

    ``pair`` counts from the junction (0: rho_{a+1}, the pair joining f_a's last layer to f_b's first) and
    ``from_fa`` marks that pair. ``shortfall`` = the seed's Acc*_eval (on the per-epoch test images; Acc* where
    an older record lacks it) minus the trial's accuracy on the same images. ``cluster`` names the trial's
    (network, data set, seed). For each measure: its value, its null mean, ``<measure>_excess`` (value minus
    null mean) and ``<measure>_above_null``.
    """
    rows = []
    for record in records:
        config = record["config"]
        per_seed = record["metrics"].get("per_seed") or [record["metrics"]]
        seeds = config.get("seeds") or record["metrics"].get("seeds") or [config.get("seed", 0)] * len(per_seed)
        model = MODEL_NAMES.get(config["arch"], config["arch"])
        dataset = DATASET_NAMES.get(config["dataset"], config["dataset"])
        for seed, seed_metrics in zip(seeds, per_seed):
            acc_star = seed_metrics.get("acc_star_eval")
            acc_star = float(seed_metrics["acc_star"] if acc_star is None else acc_star)
            for arm, trial in _seed_trials(seed_metrics):
                pairs = trial.get("rho_pairs") or [{"rho": v} for v in trial.get("rho") or []]
                base = {"model": model, "dataset": dataset, "fb_layers": int(config["fb_layers"]), "seed": int(seed),
                        "arm": arm, "trial": int(trial.get("trial", 0)), "cluster": f"{model} / {dataset} / seed {seed}",
                        "acc": float(trial["acc"]), "acc_star_eval": acc_star,
                        "shortfall": float(acc_star - trial["acc"])}
                for j, pair in enumerate(pairs):
                    row = {**base, "pair": j, "from_fa": j == 0}
                    for measure in MEASURES:
                        row[measure] = _pair_value(pair, measure)
                        row[f"{measure}_null_mean"] = _pair_value(pair, f"{measure}_null_mean")
                        row[f"{measure}_excess"] = row[measure] - row[f"{measure}_null_mean"]
                        row[f"{measure}_above_null"] = _above_null(pair, measure)
                    rows.append(row)
    columns = list(TRIAL_COLUMNS) + [f"{m}{s}" for m in MEASURES for s in ("", "_null_mean", "_excess", "_above_null")]
    return pd.DataFrame(rows, columns=columns)


def _spearman(xy: np.ndarray) -> float:
    """Spearman's r of the two columns of ``xy`` (NaN when either is constant)."""
    x, y = xy[:, 0], xy[:, 1]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def cluster_rank_correlation(x, y, clusters, *, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Spearman's r of (x, y) with a percentile interval from a cluster bootstrap (whole clusters resampled,
    the pairs of a drawn cluster kept together) and the bootstrap's two-sided p-value of r = 0
    (:func:`semirobust.inference.bootstrap_p_value`).

    Returns n (units), clusters, r, low, high, p_value. Fewer than 4 finite pairs or a constant input give
    r NaN; fewer than 2 clusters give r but no interval (NaNs): one cluster has nothing to resample.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    clusters = np.asarray(clusters)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, clusters = x[keep], y[keep], clusters[keep]
    out = {"n": int(x.size), "clusters": int(np.unique(clusters).size), "r": math.nan, "low": math.nan,
           "high": math.nan, "p_value": math.nan}
    if x.size < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    xy = np.column_stack([x, y])
    out["r"] = _spearman(xy)
    if out["clusters"] < 2:
        return out
    draws = cluster_bootstrap_draws(xy, clusters, _spearman, n_resamples=n_resamples, seed=seed)
    out.update(percentile_reading(draws, level))
    return out


def junction(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the pair joining f_a to f_b (rho_{a+1}): one per trial."""
    return frame[frame.from_fa]


def cluster_description(frame: pd.DataFrame) -> str:
    """What the primary analysis resamples, in words: e.g. "seeds within networks and data sets (7 clusters:
    VGG16 / Fashion-MNIST 5 seeds, AlexNet / Fashion-MNIST 2 seeds)"."""
    part = junction(frame)
    if part.empty:
        return "no clusters (no trials)"
    counts = part.groupby(["model", "dataset"], sort=False)["seed"].nunique()
    groups = ", ".join(f"{m} / {d} {n} seed{'s' if n != 1 else ''}" for (m, d), n in counts.items())
    total = part["cluster"].nunique()
    return f"seeds within networks and data sets ({total} cluster{'s' if total != 1 else ''}: {groups})"


@dataclasses.dataclass(frozen=True)
class LiteralTest:
    """The paper's claim as stated: how many failing trials (shortfall > margin) have rho_{a+1} not above its
    permutation null, against succeeding ones. ``unknown``: trials without a null (left out of the counts)."""

    margin: float
    failing: int
    failing_at_null: int
    succeeding: int
    succeeding_at_null: int
    unknown: int

    @property
    def text(self) -> str:
        """e.g. "3 of 7 failing trials, 0 of 9 succeeding"."""
        return (f"{self.failing_at_null} of {self.failing} failing trial{'s' if self.failing != 1 else ''}, "
                f"{self.succeeding_at_null} of {self.succeeding} succeeding")

    @property
    def outcome(self) -> str:
        """"no failing trials"; "against the claim" when most failing trials (more than half) have rho_{a+1} above
        its null (the claim as stated is false of the typical failing trial); "in line with the claim" when more
        than half of the failing trials are at the null and they are so more often than succeeding ones; else
        "mixed"."""
        if self.failing == 0:
            return "no failing trials"
        share_fail = self.failing_at_null / self.failing
        share_ok = self.succeeding_at_null / self.succeeding if self.succeeding else 0.0
        if share_fail < 0.5:
            return "against the claim"
        if share_fail > 0.5 and share_fail > share_ok:
            return "in line with the claim"
        return "mixed"


def literal_test(frame: pd.DataFrame, margin: float = FAIL_MARGIN, measure: str = "rho") -> LiteralTest:
    """:class:`LiteralTest` over the junction rows of :func:`trial_frame` (one per trial), with ``measure``'s
    above-null flags (EDGE's rho by default)."""
    part = junction(frame)
    flags = part[f"{measure}_above_null"]
    known = flags.notna()
    failing = part["shortfall"] > margin
    at_null = known & ~flags.fillna(True).astype(bool)
    return LiteralTest(float(margin), int((failing & known).sum()), int((failing & at_null).sum()),
                       int((~failing & known).sum()), int((~failing & at_null).sum()), int((~known).sum()))


@dataclasses.dataclass(frozen=True)
class PrimaryResult:
    """The primary analysis: Spearman's r of the primary measure against the shortfall with its cluster-bootstrap
    interval, the cross-check (CKA's excess) and the literal test."""

    n: int  # trials
    clusters: int
    cluster_text: str  # what was resampled (:func:`cluster_description`)
    r: float
    low: float
    high: float
    p_value: float
    cross_r: float
    cross_low: float
    cross_high: float
    literal: LiteralTest
    level: float = 0.95
    measure: str = PRIMARY_MEASURE_TEXT
    short: str = "rho_{a+1}"  # the measure's name in sentences
    within_arm: bool = False  # r within arms (ranks taken within each arm) or pooled over the arms
    cross_short: str = "CKA at the junction"  # the cross-check's name in sentences

    @property
    def testable(self) -> bool:
        return math.isfinite(self.r)

    @property
    def status(self) -> str:
        """"confirmed" only when the interval lies below 0 (the claimed direction) and the literal test does not go
        against the claim; "not confirmed" when it lies above 0 or the literal test goes against the claim;
        "undecided" otherwise (including no interval); "not testable at this scale" without an r."""
        if not self.testable:
            return "not testable at this scale"
        if (math.isfinite(self.low) and self.low > 0) or self.literal.outcome == "against the claim":
            return "not confirmed"
        if math.isfinite(self.high) and self.high < 0:
            return "confirmed"
        return "undecided"

    @property
    def clusters_to_decide(self) -> int | None:
        """A rough projection: the clusters at which the interval, shrinking as 1/sqrt(clusters) around the same
        r, would exclude 0 (None without an interval or with r = 0)."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.r == 0 or not math.isfinite(self.r):
            return None
        half = (self.high - self.low) / 2
        return max(self.clusters + 1, math.ceil(self.clusters * (half / abs(self.r)) ** 2))


def cross_measure(measure: str) -> str:
    """The cross-check of ``measure``: CKA, or KSG when CKA is the primary measure."""
    return "ksg" if measure == "cka" else "cka"


def correlation(part: pd.DataFrame, column: str, *, within_arm: bool, **kw) -> dict:
    """Spearman's r of ``column`` against the shortfall over the rows of ``part``, with its cluster interval:
    within arm (:func:`semirobust.experiments.rho.within_arm.within_arm_correlation`) or pooled
    (:func:`cluster_rank_correlation`)."""
    if within_arm:
        return within_arm_correlation(part[column], part["shortfall"], part["arm"], part["cluster"], **kw)
    return cluster_rank_correlation(part[column], part["shortfall"], part["cluster"], **kw)


def primary_analysis(frame: pd.DataFrame, *, measure: str = "rho", within_arm: bool = False,
                     margin: float = FAIL_MARGIN, level: float = 0.95, n_resamples: int = 2000,
                     seed: int = 0) -> PrimaryResult:
    """The pre-specified primary analysis over every trial of :func:`trial_frame` (module docstring): ``measure``'s
    excess at the junction against the shortfall, within arm or pooled; the literal test on ``measure``'s flags."""
    part = junction(frame)
    column = f"{measure}_excess"
    kw = {"within_arm": within_arm, "level": level, "n_resamples": n_resamples, "seed": seed}
    main = correlation(part, column, **kw)
    cross = correlation(part, f"{cross_measure(measure)}_excess", **kw)
    used = part[np.isfinite(part[column].astype(float)) & np.isfinite(part["shortfall"].astype(float))]
    return PrimaryResult(main["n"], main["clusters"], cluster_description(used), main["r"], main["low"], main["high"],
                         main["p_value"], cross["r"], cross["low"], cross["high"],
                         literal_test(frame, margin, measure), level, MEASURE_TEXTS[measure], SHORT_NAMES[measure],
                         within_arm, SHORT_NAMES[cross_measure(measure)])


def _within(part: pd.DataFrame, columns, keys=("model", "dataset", "fb_layers")) -> pd.DataFrame:
    """``columns`` minus their mean over the rows of the same cell."""
    out = part.copy()
    for column in columns:
        out[column] = out[column] - out.groupby(list(keys))[column].transform("mean")
    return out


def exploratory_correlations(frame: pd.DataFrame, *, measure: str = "rho", within_arm: bool = False,
                             level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every correlation shown beside the primary one, each against the shortfall with the same cluster
    bootstrap: the primary and cross-check rows first (``role``; ``measure``'s excess and its cross-check's, within
    arm when ``within_arm``), then the exploratory rows (with ``within_arm``, the same two pooled across arms,
    confounded by the arms' design; EDGE's rho_{a+1} excess, raw rho, KSG and CKA at the junction; rho's excess at
    the second pair and averaged over the later pairs; within cells; on each data set alone), whose p-values are
    Holm-adjusted together (``p_holm``); a measure the run did not record gives no row, and a row the primary or
    cross-check already shows is not repeated. Exploratory rows describe; they decide nothing. ``p_value`` is the
    cluster bootstrap's (:func:`semirobust.inference.bootstrap_p_value`): with few clusters (2 or 3) its interval
    is crude."""
    part = junction(frame)
    rows, seen = [], set()
    kw = {"level": level, "n_resamples": n_resamples, "seed": seed}

    def add(role, what, x, y, clusters, arms=None, key=None):
        if key is not None and key in seen:  # already shown as the primary or the cross-check
            return
        seen.add(key)
        found = (within_arm_correlation(x, y, arms, clusters, **kw) if arms is not None
                 else cluster_rank_correlation(x, y, clusters, **kw))
        if found["n"] == 0 and role == "exploratory":  # a measure this run did not record (e.g. KSG)
            return
        rows.append({"role": role, "measure": what, **found})

    cross = cross_measure(measure)
    arms = part.arm if within_arm else None
    how = ", within arm" if within_arm else ""
    for role, name in (("primary", measure), ("cross-check", cross)):
        add(role, f"{SHORT_NAMES[name]}, excess over null{how}", part[f"{name}_excess"], part.shortfall, part.cluster,
            arms, key=(f"{name}_excess", within_arm))
    if within_arm:
        for name in (measure, cross):
            add("exploratory", f"{SHORT_NAMES[name]}, excess over null, pooled across arms (confounded by the arms' design)",
                part[f"{name}_excess"], part.shortfall, part.cluster, key=(f"{name}_excess", False))
    add("exploratory", "rho_{a+1}, excess over null", part[PRIMARY], part.shortfall, part.cluster,
        key=(PRIMARY, False))
    add("exploratory", "raw rho_{a+1}", part["rho"], part.shortfall, part.cluster)
    add("exploratory", "KSG at the junction, excess over null", part["ksg_excess"], part.shortfall, part.cluster,
        key=("ksg_excess", False))
    add("exploratory", "raw KSG at the junction", part["ksg"], part.shortfall, part.cluster)
    add("exploratory", "raw CKA at the junction", part["cka"], part.shortfall, part.cluster)
    second = frame[frame.pair == 1]
    add("exploratory", "rho_{a+2} excess over null", second[PRIMARY], second.shortfall, second.cluster)
    keys = ["cluster", "arm", "fb_layers", "trial"]
    later = frame[frame.pair >= 1].groupby(keys, sort=False).agg(excess=(PRIMARY, "mean"), shortfall=("shortfall", "first"))
    later = later.reset_index()
    add("exploratory", "mean rho excess over the later pairs", later.excess, later.shortfall, later.cluster)
    if not part.empty:
        inside = _within(part, [PRIMARY, "shortfall"])
        add("exploratory", "rho_{a+1} excess, within cells (cell means removed)", inside[PRIMARY], inside.shortfall,
            inside.cluster)
        for dataset, group in part.groupby("dataset", sort=False):
            add("exploratory", f"rho_{{a+1}} excess, {dataset} only", group[PRIMARY], group.shortfall, group.cluster)
    table = pd.DataFrame(rows, columns=["role", "measure", "n", "clusters", "r", "low", "high", "p_value"])
    table["p_holm"] = math.nan
    chosen = (table.role == "exploratory") & table.p_value.notna()
    if chosen.any():
        table.loc[chosen, "p_holm"] = holm(table.loc[chosen, "p_value"].tolist())
    return table


def failing_rho_at_null(primary: PrimaryResult) -> str:
    """The literal test's counts as glued: e.g. "3 of 7 failing trials, 0 of 9 succeeding"."""
    return primary.literal.text


def _interval_words(primary: PrimaryResult) -> str:
    pct = f"{primary.level:.0%}"
    if math.isfinite(primary.low):
        return f"{pct} cluster-bootstrap interval {primary.low:+.2f} to {primary.high:+.2f}"
    return f"no interval: {primary.clusters} cluster{'s' if primary.clusters != 1 else ''}, nothing to resample"


def _how(primary: PrimaryResult) -> str:
    return " within arm (ranks taken within each arm)" if primary.within_arm else ""


def success_verdict(primary: PrimaryResult) -> str:
    """The verdict sentence (no capital, no full stop): the primary test, its reading, what would decide it when
    undecided, and the literal test. It never says "supports"; an interval that covers 0 reads "undecided"."""
    if not primary.testable:
        return (f"with {primary.n} trials (or no spread in the measure or in the shortfall) no rank correlation can "
                "be read: the claim is not testable at this scale")
    status = primary.status
    lit = primary.literal
    text = (f"over {primary.n} trials of every arm in {primary.clusters} clusters (seeds within networks and data "
            f"sets, resampled whole), Spearman's r{_how(primary)} between {primary.short}'s excess over its "
            f"permutation null and the shortfall is {primary.r:+.2f} ({_interval_words(primary)}); the claim predicts "
            "r below 0")
    if math.isfinite(primary.high) and primary.high < 0:
        text += "; the whole interval lies below 0: the relation the claim predicts is seen at this scale"
    elif math.isfinite(primary.low) and primary.low > 0:
        text += "; the whole interval lies above 0: a larger excess goes with a larger shortfall, against the claim"
    elif math.isfinite(primary.low):
        text += "; the interval contains 0, so the primary test is undecided"
        more = primary.clusters_to_decide
        if more is not None:
            text += (f" (more clusters would decide it: if r stayed at {primary.r:+.2f} and the interval shrank as "
                     f"1/sqrt(clusters), about {more} clusters would exclude 0)")
    else:
        text += "; without an interval the primary test is undecided (more seeds, i.e. more clusters, would decide it)"
    text += (f". The claim as stated (failing trials, shortfall above {lit.margin:g} points, show {primary.short} "
             f"not above its null): {lit.text}")
    if lit.outcome == "against the claim":
        text += ", which goes against it" + (", so the claim is not confirmed" if status == "not confirmed" else "")
    elif lit.outcome == "no failing trials":
        text += ": no trial failed, so it is not tested"
    text += (f". Cross-check, {primary.cross_short}'s excess: r = {primary.cross_r:+.2f}"
             if math.isfinite(primary.cross_r) else f". Cross-check, {primary.cross_short}'s excess: not measured")
    if math.isfinite(primary.cross_low):
        text += f" ({primary.cross_low:+.2f} to {primary.cross_high:+.2f})"
    return text


def success_claim(primary: PrimaryResult, edge_untestable: str = "") -> tuple[str, str, str]:
    """The Figure 1 verdict box on the claim "rho predicts success": (result, status, reading), from the primary
    analysis (:attr:`PrimaryResult.status`). ``edge_untestable``, when given, is why EDGE (the paper's rho) cannot
    detect dependence at the records' sample size: the claim about rho is then "not testable at this scale" whatever
    the primary analysis (on another measure) finds, and the result and reading report both."""
    status = primary.status
    if status == "not testable at this scale":
        why = f"{primary.n} trials, or no spread in the measure or in the shortfall"
        if edge_untestable:
            why = f"{edge_untestable}; and {why}"
        return f"No rank correlation can be read ({why}).", status, reading(status, "", no_interval=why)
    result = (f"Spearman's r{_how(primary)} between {primary.measure} and {OUTCOME_TEXT}: {primary.r:+.2f} over "
              f"{primary.n} trials of every arm ({_interval_words(primary)}; {primary.cluster_text}). Failing trials "
              f"(shortfall above {primary.literal.margin:g} points) with {primary.short} not above its null: "
              f"{primary.literal.text}.")
    no_interval = "" if math.isfinite(primary.low) else "one cluster"
    by_interval = ("confirmed" if math.isfinite(primary.high) and primary.high < 0 else
                   "not confirmed" if math.isfinite(primary.low) and primary.low > 0 else "undecided")
    text = reading(by_interval, "0, the value of no effect", "below", no_interval=no_interval)
    if by_interval == "undecided" and primary.clusters_to_decide is not None:
        text += (f" More clusters would decide it: about {primary.clusters_to_decide} if r stayed at {primary.r:+.2f} "
                 "and the interval shrank as 1/sqrt(clusters).")
    lit = primary.literal
    if lit.outcome == "against the claim":
        text += (f" The claim as stated does not hold here: {lit.failing_at_null} of {lit.failing} failing trials have "
                 f"{primary.short} not above its permutation null (succeeding: {lit.succeeding_at_null} of "
                 f"{lit.succeeding}).")
    if edge_untestable:
        untestable = "not testable at this scale"
        which = ("On EDGE itself" if primary.short == SHORT_NAMES["rho"] else
                 f"With {primary.short}, which can detect dependence at this sample size,")
        return (result, untestable, reading(untestable, "", no_interval=edge_untestable) +
                f" {which} the primary test gives: {text}")
    return result, status, text


def primary_glue(primary: PrimaryResult) -> dict:
    """The glue names of the primary analysis and their values (numbers as numbers; the verdict as a sentence)."""
    return {"rho_primary_measure": primary.measure, "rho_primary_r": primary.r, "rho_primary_low": primary.low,
            "rho_primary_high": primary.high, "rho_primary_n": primary.n, "rho_primary_cluster": primary.cluster_text,
            "failing_rho_at_null": failing_rho_at_null(primary),
            "rho_success_verdict": as_sentence(success_verdict(primary))}


def within_arm_glue(primary: PrimaryResult) -> dict:
    """``rho_within_arm_r``, ``_low`` and ``_high``: the primary r when it was computed within arm (NaN if not)."""
    keep = primary.within_arm
    return {"rho_within_arm_r": primary.r if keep else math.nan, "rho_within_arm_low": primary.low if keep else math.nan,
            "rho_within_arm_high": primary.high if keep else math.nan}


__all__ = ["MEASURES", "PRIMARY", "CROSS_CHECK", "FAIL_MARGIN", "PRIMARY_MEASURE_TEXT", "MEASURE_TEXTS", "SHORT_NAMES",
           "POOLED_REASON", "OUTCOME_TEXT", "TRIAL_COLUMNS", "trial_frame", "cluster_rank_correlation", "junction",
           "cluster_description", "LiteralTest", "literal_test", "PrimaryResult", "cross_measure", "correlation",
           "primary_analysis", "exploratory_correlations", "failing_rho_at_null", "success_verdict", "success_claim",
           "primary_glue", "within_arm_glue"]
