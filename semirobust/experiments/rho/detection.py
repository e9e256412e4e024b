"""Which measure can detect dependence at the records' sample size? Read from the dependence study.

The dependence study (:mod:`semirobust.experiments.rho.dependence_study`) runs each measure on synthetic pairs
with a known answer at the study's sample sizes (the profile's ``study_ns``, samples of one class). A measure
*detects* at a size when it is above its permutation null for at least :data:`DETECT_RATE` of the study's
dependent pairs at that size. From that rule alone, never from the trials' outcomes:

* :func:`smallest_detecting_n`: the smallest size at which a measure detects (None: at none of the sizes);
* :func:`rate_at`: a measure's detection rate at the records' size (the largest study size not above it);
* :func:`primary_measure`: the measure Figure 1's primary analysis uses, the first of KSG, CKA that detects at
  the records' size (KSG first: it estimates the paper's quantity, mutual information); None when neither does;
* :func:`edge_paper_status`: whether the paper's estimator (EDGE at the authors' preset, the one rho uses) can
  test the claim at the records' size.
"""
from __future__ import annotations

import math

import pandas as pd

from semirobust.experiments.rho.dependence_study import rho_samples_per_class, sizes_text

__all__ = ["DETECT_RATE", "EDGE_PAPER", "CANDIDATES", "MEASURE_COLUMNS", "detection_rates", "smallest_detecting_n",
           "rate_at", "records_n_per_class", "primary_measure", "edge_can_detect", "edge_paper_status",
           "NOT_TESTABLE_EDGE", "STUDY_SEED", "analysis_measure", "edge_untestable", "detection_glue"]

#: the share of the study's dependent pairs a measure must be above its null for, at one size, to "detect".
DETECT_RATE = 0.8
#: the paper's estimator as rho uses it (the study's ``estimator`` name).
EDGE_PAPER = "edge (authors)"
#: the measures Figure 1's primary analysis may use, in the order of preference.
CANDIDATES = ("ksg", "cka")
#: each study estimator's column in :func:`semirobust.experiments.rho.rho_success.trial_frame`.
MEASURE_COLUMNS = {EDGE_PAPER: "rho", "ksg": "ksg", "cka": "cka"}
NOT_TESTABLE_EDGE = "not testable with the paper's estimator at this sample size"
#: the dependence study's seed on the Figure 1 page: the MI estimator page's default, so both show the same study.
STUDY_SEED = 0


def detection_rates(study: pd.DataFrame) -> pd.DataFrame:
    """One row per (estimator, N) of a :func:`~semirobust.experiments.rho.dependence_study.run_study` frame: the
    dependent pairs, how many were above their null, and the rate."""
    study = study[study.kind != "independent"]
    study = study.assign(estimator=[f"{m} ({p})" if p else m for m, p in zip(study.measure, study.preset)],
                         above=study.above_null.fillna(False).astype(bool))
    table = study.groupby(["estimator", "n"], sort=False).agg(detected=("above", "sum"), dependent=("above", "size"))
    table = table.reset_index().sort_values(["estimator", "n"], kind="stable").reset_index(drop=True)
    table["detected"] = table["detected"].astype(int)
    table["rate"] = table["detected"] / table["dependent"]
    return table


def smallest_detecting_n(study: pd.DataFrame, estimator: str, rate: float = DETECT_RATE) -> int | None:
    """The smallest study size N at which ``estimator`` is above its null for at least ``rate`` of the dependent
    pairs; None when it reaches the rate at no size the study ran."""
    table = detection_rates(study)
    found = table[(table.estimator == estimator) & (table.rate >= rate)]
    return None if found.empty else int(found.n.min())


def rate_at(study: pd.DataFrame, estimator: str, n: int | None) -> tuple[int | None, float]:
    """(study size, detection rate) of ``estimator`` at ``n`` samples per class: the largest study size not above
    ``n`` (a measure that fails at that size is not credited with a larger one); ``n`` None (every test image)
    reads the largest size. (None, NaN) when the study ran no size that small."""
    table = detection_rates(study)
    table = table[table.estimator == estimator]
    if n is not None:
        table = table[table.n <= n]
    if table.empty:
        return None, math.nan
    row = table.loc[table.n.idxmax()]
    return int(row.n), float(row.rate)


def records_n_per_class(profile: str, datasets) -> int | None:
    """The samples per class behind each rho of ``profile`` on ``datasets`` (the smallest over the data sets);
    None when the profile uses every test image."""
    sizes = [rho_samples_per_class(profile, d) for d in datasets]
    known = [s for s in sizes if s is not None]
    return min(known) if known else None


def primary_measure(study: pd.DataFrame, n: int | None, rate: float = DETECT_RATE) -> str | None:
    """The first of :data:`CANDIDATES` whose detection rate at ``n`` reaches ``rate`` (its column name in the trial
    frame, "ksg" or "cka"); None when neither does."""
    for name in CANDIDATES:
        found = rate_at(study, name, n)[1]
        if math.isfinite(found) and found >= rate:
            return MEASURE_COLUMNS[name]
    return None


def edge_can_detect(study: pd.DataFrame, n: int | None, rate: float = DETECT_RATE) -> bool:
    """Whether EDGE at the paper's settings detects at ``n`` samples per class (False when unmeasured)."""
    found = rate_at(study, EDGE_PAPER, n)[1]
    return math.isfinite(found) and found >= rate


def edge_paper_status(study: pd.DataFrame, n: int | None, rate: float = DETECT_RATE) -> str:
    """:data:`NOT_TESTABLE_EDGE` when EDGE cannot detect at ``n``; else "testable: ..." with its rate."""
    size, found = rate_at(study, EDGE_PAPER, n)
    if not edge_can_detect(study, n, rate):
        return NOT_TESTABLE_EDGE
    return f"testable: EDGE detects {found:.0%} of the study's dependent pairs at {size} samples per class"


def analysis_measure(study: pd.DataFrame, n: int | None, rate: float = DETECT_RATE) -> str:
    """The measure Figure 1's primary analysis runs on: :func:`primary_measure`, or EDGE's rho ("rho") when neither
    candidate detects (the claim is then not testable, :func:`edge_untestable` says why)."""
    return primary_measure(study, n, rate) or "rho"


def edge_untestable(study: pd.DataFrame, n: int | None, rate: float = DETECT_RATE) -> str:
    """Why the claim about the paper's rho is not testable at ``n`` samples per class ("" when EDGE detects there):
    its detection rate in the dependence study against the rule's, and whether another measure can."""
    if edge_can_detect(study, n, rate):
        return ""
    size, found = rate_at(study, EDGE_PAPER, n)
    where = (f"the dependence study ran no size as small as {n} samples per class" if size is None else
             f"EDGE at the paper's settings is above its permutation null for {found:.0%} of the dependence study's "
             f"dependent pairs at {size} samples per class, below the {rate:.0%} a measure needs to detect dependence")
    other = primary_measure(study, n, rate)
    tail = ("; no other measure the study ran detects at this size either" if other is None else
            f"; {dict(ksg='KSG', cka='linear CKA')[other]} does, so the primary analysis uses it")
    return f"the paper's estimator cannot detect dependence at this sample size ({where}){tail}"


def detection_glue(study: pd.DataFrame, n: int | None, rate: float = DETECT_RATE) -> dict:
    """The Figure 1 page's glue of the rule: ``rho_detect_n_per_class`` (the smallest size at which EDGE detects,
    as a number, or a sentence when none), ``rho_detect_rate`` (EDGE's rate at the records' size),
    ``rho_records_n_per_class`` (in words), ``edge_paper_status``, the chosen measure's name and rate
    (``rho_chosen_measure``, ``rho_chosen_detect_rate``) and ``rho_detect_threshold``."""
    smallest = smallest_detecting_n(study, EDGE_PAPER, rate)
    sizes = sorted(int(v) for v in study.n.unique())
    chosen = primary_measure(study, n, rate)
    name = {v: k for k, v in MEASURE_COLUMNS.items()}.get(chosen)
    return {"rho_detect_n_per_class": smallest if smallest is not None else
            f"none of the study's sizes ({sizes_text(sizes)})",
            "rho_detect_rate": rate_at(study, EDGE_PAPER, n)[1],
            "rho_records_n_per_class": "every test image" if n is None else f"{n} images per class",
            "edge_paper_status": edge_paper_status(study, n, rate), "rho_detect_threshold": rate,
            "rho_chosen_measure": {"ksg": "KSG", "cka": "linear CKA"}.get(chosen, "none"),
            "rho_chosen_detect_rate": rate_at(study, name, n)[1] if name else math.nan}
