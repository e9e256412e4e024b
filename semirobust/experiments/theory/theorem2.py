"""Theorem 2 and its assumptions A1-A2 against the label range, from a ``theorem3`` record and Table 1's rho.

A2 asks, for every layer j = a+1..n of f_b and every delta in S,
``E[y (G_j(h_j) - G_{j-1}(h_{j-1}))] >= 1 + U_j`` with ``U_j >= 0``. Summed over j the left side
telescopes to ``E[y G_n(h_n)] - E[y G_a(h_a)]``. With G into the labels (|y G| <= 1) each expectation
lies in [-1, 1], so the sum is at most 2 while A2 makes it at least ``n - a``: A2 is impossible as soon
as f_b has three or more layers (:func:`a2_summed_margin`). Sharper still, ``U_j`` bounds the mean under
the joint law of the density ratio ``p(h_{j-1}, h_j | y) / (p(h_{j-1} | y) p(h_j | y))``, which is
``1 + chi^2 >= 1``; with ``U_j >= 1`` the sum is at least ``2 (n - a)`` and two layers already break it.

:func:`a2_margins` reads the per-pair margins that the ``theorem3`` run measured, with the read-outs
of Theorem 3's check normalised to the label range, on clean images. delta = 0 belongs to S, so a
clean margin below 1 already violates A2 for those read-outs (a clean margin of 1 or more would need
the attacked check, which the run does not make). :func:`theorem2_bound` sets the theorem's constant
``gamma_a + sum_j rho_j`` (rho from a Table 1 record, in bits) against the largest gamma_b a map into
the labels allows, 1.
"""
from __future__ import annotations

import math

import pandas as pd

from semirobust.config import LAYER_COUNTS, PROFILE_ALIASES, PROFILES, check_int
from semirobust.experiments.table1 import population
from semirobust.experiments.table1.configs import SUMMARY_KIND, table1_config
from semirobust.experiments.theory.theorem3 import paper_splits

__all__ = ["A2_MARGIN_MIN", "a2_summed_margin", "paper_a2_bounds", "a2_margins", "table1_rho",
           "theorem2_bound", "theorem2_statements", "theorem2_glue_values"]

#: the least per-pair margin A2 allows: 1 + U_j with U_j >= 0.
A2_MARGIN_MIN = 1.0


def a2_summed_margin(n_layers: int, fa_layers: int) -> dict:
    """A2's margin summed over the ``n - a`` layers of f_b against the most two expectations in [-1, 1] allow.

    ``summed_margin_min`` = n - a (U_j >= 0), ``summed_margin_min_u1`` = 2 (n - a) (U_j >= 1, the density
    ratio's mean); ``left_side_max`` = 2; ``impossible`` / ``impossible_u1`` when the least sum exceeds 2.
    """
    check_int("n_layers", n_layers, low=2)
    check_int("fa_layers", fa_layers, low=1)
    if fa_layers >= n_layers:
        raise ValueError(f"fa_layers={fa_layers} must be smaller than n_layers={n_layers}.")
    fb = n_layers - fa_layers
    return {"n_layers": n_layers, "fa_layers": fa_layers, "fb_layers": fb, "left_side_max": 2.0,
            "summed_margin_min": float(fb), "impossible": fb > 2,
            "summed_margin_min_u1": float(2 * fb), "impossible_u1": 2 * fb > 2}


def paper_a2_bounds() -> pd.DataFrame:
    """:func:`a2_summed_margin` for every (network, f_b) the paper uses (:func:`theorem3.paper_splits`)."""
    rows = [{"network": network, **a2_summed_margin(n, n - fb)}
            for network, n, fb_sizes in paper_splits() for fb in fb_sizes]
    return pd.DataFrame(rows)


def _pairs(label: str, first_layer: int, values) -> list[dict]:
    """Margins E[y G_j] - E[y G_{j-1}] of consecutive entries of ``values`` (layer ``first_layer`` first)."""
    return [{"network": label, "j": first_layer + i, "E[y G_j-1]": float(prev), "E[y G_j]": float(cur),
             "margin": float(cur - prev), "met": bool(cur - prev >= A2_MARGIN_MIN)}
            for i, (prev, cur) in enumerate(zip(values[:-1], values[1:]), start=1)]


def a2_margins(check: dict) -> pd.DataFrame:
    """Per consecutive pair (j-1, j), A2's clean margin E[y (G_j(h_j) - G_{j-1}(h_{j-1}))] from a
    :func:`semirobustness_check` result, read-outs normalised to [-1, 1].

    Rows for the trained network's layers j = 2..n-1 (G_j the read-out of y from layer j, as behind
    gamma_a) and, per Theorem 3 split a < n-1, for the exactly linear f_b: layer a, then layers a+1..n.
    A mean of differences is the difference of means, so each margin is the difference of the recorded
    clean gammas. ``met``: margin >= 1, the least that A2 allows.
    """
    rows = _pairs("trained network", 1, check["gamma_layers_clean"])
    for e in check["theorem3"]:
        a = e["fa_layers"]
        if e["trivial"]:
            continue
        rows += _pairs(f"linear f_b, a = {a}", a, [check["gamma_layers_clean"][a - 1], *e["gamma_fb_layers_clean"]])
    return pd.DataFrame(rows, columns=["network", "j", "E[y G_j-1]", "E[y G_j]", "margin", "met"])


def table1_rho(store, record: dict) -> dict | None:
    """Table 1's rho for the theorem3 record's network and data set at a split the theorem3 run measured (the
    largest f_b first), read from the book's listed cells of the record's profile
    (:mod:`semirobust.experiments.table1.population`) by their identity; never a record outside that list.
    None when the profile is not a named one, no listed cell has that network, data set and split, or its record is not in ``store``."""
    config = record["config"]
    n = LAYER_COUNTS[config["arch"]]
    profile = record["profile"]
    if profile not in (*PROFILES, *PROFILE_ALIASES):  # a custom profile: the book lists no cells for it
        return None
    listed = population.book_configs(profile, population.book_dataset(profile) or config["dataset"])
    for a in sorted(config["fa_sizes"]):
        for cell in listed:
            if (cell.arch, cell.dataset, cell.fb_layers) != (config["arch"], config["dataset"], n - a):
                continue
            found = store.read(SUMMARY_KIND, table1_config(cell))
            if found is None:
                continue
            rho = [float(v) for v in found["metrics"]["rho"] if v is not None and math.isfinite(float(v))]
            return {"fa_layers": a, "fb_layers": n - a, "rho": rho, "attack": found["config"]["attack"],
                    "eps": found["config"]["eps"], "config_hash": found["config_hash"]}
    return None


def theorem2_bound(gamma_a: float, rho: list) -> dict:
    """Theorem 2's constant gamma_a + sum_j rho_j against the largest gamma_b with G into the labels (1)."""
    total = float(sum(rho))
    bound = float(gamma_a) + total
    return {"gamma_a": float(gamma_a), "sum_rho_bits": total, "pairs": len(rho), "bound": bound,
            "gamma_b_max": 1.0, "times_label_max": bound / 1.0, "exceeds": bound > 1.0}


def _bound_for(record: dict, rho: dict | None) -> dict | None:
    if rho is None or not rho["rho"]:
        return None
    entry = [e for e in record["metrics"]["semirobustness"]["theorem3"] if e["fa_layers"] == rho["fa_layers"]]
    return {**theorem2_bound(entry[0]["gamma_a"], rho["rho"]), **rho} if entry else None


def theorem2_statements(record: dict, rho: dict | None) -> list[str]:
    """Sentences on A2's summed margin, the measured per-pair margins and the bound, each saying what was tested."""
    paper = paper_a2_bounds()
    margins = a2_margins(record["metrics"]["semirobustness"])
    config = record["config"]
    lines = [
        f"A2 summed over the n - a layers of f_b: E[y G_n(h_n)] - E[y G_a(h_a)] >= n - a, while with G into the labels "
        f"the left side is at most 2. A2 is therefore impossible for {int(paper.impossible.sum())} of the "
        f"{len(paper)} (network, f_b) splits of the paper (every split with three or more f_b layers), for every G "
        f"into the labels and whatever the data; with U_j >= 1, which the density ratio's mean always is, for "
        f"{int(paper.impossible_u1.sum())} of {len(paper)}.",
        f"Measured (clean images, the least-squares read-outs of Theorem 3's check normalised to [-1, 1]): "
        f"{int(margins.met.sum())} of {len(margins)} consecutive-layer pairs reach the margin 1 that A2 needs "
        + (f"(largest margin {margins.margin.max():.3g}). " if len(margins) else ". ")
        + "delta = 0 is one of the perturbations A2 quantifies over, so a clean margin below 1 violates A2 for "
        "these read-outs; other maps G are not tested.",
    ]
    bound = _bound_for(record, rho)
    if bound is None:
        lines.append(f"No Table 1 record of {config['arch']} on {config['dataset']} at profile {record['profile']} "
                     f"with a split this run measured is in the results store, so the bound gamma_a + sum rho_j is "
                     f"not computed here.")
    else:
        lines.append(
            f"Theorem 2's constant at a = {bound['fa_layers']} (f_b = {bound['fb_layers']} layers): gamma_a = "
            f"{bound['gamma_a']:.3g} plus the sum of {bound['pairs']} rho_j = {bound['sum_rho_bits']:.3g} bits "
            f"(Table 1 record, {bound['attack']} at eps = {bound['eps'] * 255:.0f}/255) gives {bound['bound']:.3g}, "
            + (f"{bound['times_label_max']:.3g} times the largest gamma_b a map into the labels allows (1): as the "
               f"constant the theorem guarantees it is unattainable, as an upper limit it says nothing."
               if bound["exceeds"] else "within the label range (at most 1)."))
    return lines


def theorem2_glue_values(record: dict, rho: dict | None) -> dict:
    """The values the pages glue for Theorem 2 (strings where a value can be missing, so none is NaN)."""
    paper = paper_a2_bounds()
    margins = a2_margins(record["metrics"]["semirobustness"])
    bound = _bound_for(record, rho)
    missing = (f"not computed: no Table 1 record of {record['config']['arch']} on {record['config']['dataset']} "
               f"at profile {record['profile']} is in the results store")
    return {
        "a2_summed_margin_impossible": int(paper.impossible.sum()),
        "a2_summed_margin_impossible_u1": int(paper.impossible_u1.sum()),
        "a2_summed_margin_splits": len(paper),
        "a2_margin_pairs_met": int(margins.met.sum()),
        "a2_margin_pairs": len(margins),
        "a2_margin_largest": f"{margins.margin.max():.3g}" if len(margins) else "n/a",
        "theorem2_bound_sum_rho_bits": f"{bound['sum_rho_bits']:.3g} bits" if bound else missing,
        "theorem2_bound": (f"{bound['bound']:.3g} ({bound['times_label_max']:.3g} times the largest gamma_b possible)"
                           if bound else missing),
        "theorem2_statement": theorem2_statements(record, rho)[-1],
        "a2_paper_table": paper,
        "a2_margin_table": margins.round(4),
    }
