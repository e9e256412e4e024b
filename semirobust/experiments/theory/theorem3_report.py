"""Theorem 3's run as readers see it: Table S1 beside the supplementary's, the Lemma 2 and Theorem 3
frames, the sentences that say what was tested, the numbers the book pages glue, and the plots.

Everything here reads a ``theorem3`` record (:func:`semirobust.experiments.theory.theorem3.run_theorem3`)
and computes nothing new, as :mod:`semirobust.experiments.table1.report` and
:mod:`semirobust.experiments.report.figures` do for Table 1. The plots are in the book's figure style
(:mod:`semirobust.experiments.report.style`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from semirobust.experiments.report.markup import as_sentence, reader_frame
from semirobust.experiments.report.style import book_figure, book_style

__all__ = ["REPORTED_TABLE_S1", "GLUE_ATTACKS", "GLUE_S1_COLUMNS", "load_reported_table_s1", "with_reported_table_s1", "table_s1_frame", "paper_bounds_table",
           "paper_bounds_frame", "theorem3_frame", "lemma2_frame", "lemma2_caption", "theorem3_statements",
           "theorem3_glue_values", "plot_table_s1", "plot_gammas", "s1_adaptive_frame", "s1_adaptive_sentence",
           "plot_s1_adaptive"]

#: the supplementary's Table S1, copied into the package (source: data_files/README.md).
REPORTED_TABLE_S1 = Path(__file__).resolve().parents[2] / "data_files" / "reported_table_s1.csv"
#: Table S1's inputs in the order the glued numbers name them ("none" = clean inputs).
GLUE_ATTACKS = ("none", "fgsm", "pgd", "autoattack")
#: the Table S1 columns whose value at the largest f*_a is glued per attack.
GLUE_S1_COLUMNS = ("acc_star", "acc_tilde_transfer", "acc_tilde_adaptive", "acc_tilde_in_sample", "acc_rand")


def load_reported_table_s1() -> pd.DataFrame:
    """Table S1 of the supplementary (ResNet-18 on CIFAR-10), from the package's copy."""
    return pd.read_csv(REPORTED_TABLE_S1)


def with_reported_table_s1(rows: list[dict]) -> pd.DataFrame:
    """Our Table S1 rows with the supplementary's values for the same attack and f_b size beside them.

    The reported columns are named ``reported_*`` and come from ResNet-18 on CIFAR-10 (18 trainable
    layers), matched by the number of layers replaced (f_b size), whatever network produced ours.
    The reported Acc~ is the supplementary's in-sample, transfer-attack number.
    """
    ours = pd.DataFrame(rows)
    reported = load_reported_table_s1().copy()
    reported["fb_layers"] = 18 - reported["fa_layers"]
    reported = reported.rename(columns={"acc_star": "reported_acc_star", "acc_tilde": "reported_acc_tilde",
                                        "diff": "reported_diff", "acc_rand": "reported_acc_rand",
                                        "fa_layers": "reported_fa_layers"})
    keep = ["attack", "fb_layers", "reported_fa_layers", "reported_acc_star", "reported_acc_tilde",
            "reported_diff", "reported_acc_rand"]
    return ours.merge(reported[keep], on=["attack", "fb_layers"], how="left")


def table_s1_frame(record: dict) -> pd.DataFrame:
    """Our Table S1 rows (transfer, adaptive and in-sample Acc~) with the supplementary's values beside them."""
    frame = with_reported_table_s1(record["metrics"]["table_s1"])
    columns = ["attack", "fa_layers", "fb_layers", "acc_star", "acc_tilde_transfer", "acc_tilde_adaptive",
               "acc_tilde_in_sample", "acc_rand", "agreement", "n_fit", "n_eval", "n_features", "ridge_alpha",
               "reported_fa_layers", "reported_acc_star", "reported_acc_tilde", "reported_acc_rand"]
    return frame[columns]


def paper_bounds_frame(record: dict) -> pd.DataFrame:
    """Theorem 3's analytic bound for every (network, a) the paper uses, as the record holds it."""
    return pd.DataFrame(record["metrics"]["paper_bounds"])


def paper_bounds_table(record: dict) -> pd.DataFrame:
    """:func:`paper_bounds_frame` for readers: no index, 3 significant digits, the bound at a = n - 1 in words."""
    return reader_frame(paper_bounds_frame(record), missing="not defined: a = n - 1")


def theorem3_frame(record: dict) -> pd.DataFrame:
    """One row per f_a size: factor, the largest possible gamma_a, gamma_a and gamma_b (normalised and sign)."""
    check = record["metrics"]["semirobustness"]
    verdicts = {v["fa_layers"]: v for v in record["metrics"]["checks"]["theorem3"]}
    rows = []
    for e in check["theorem3"]:
        v = verdicts[e["fa_layers"]]
        rows.append({"a (f_a layers)": e["fa_layers"], "f_b layers": e["fb_layers"], "factor (n-1-a)(n-a)/2": e["factor"],
                     "gamma_a max possible": e["gamma_a_max_possible"], "gamma_a": e["gamma_a"],
                     "premise gamma_a > 0": v.get("premise_met", e["gamma_a"] > 0),
                     "formula possible": v["possible"], "gamma_b": e["gamma_b"], "gamma_a x factor": e["predicted"],
                     "gamma_b >= gamma_a x factor": v["lower_bound_held"], "gamma_a (sign)": e["gamma_a_sign"],
                     "gamma_b (sign)": e["gamma_b_sign"], "possible (sign)": v["possible_sign"],
                     "gamma_a (raw)": e["gamma_a_raw"], "gamma_b (raw)": e["gamma_b_raw"]})
    return pd.DataFrame(rows)


def lemma2_frame(record: dict) -> pd.DataFrame:
    """One row per trained layer i < n: gamma_i (normalised, sign, raw) and the proof's first-step term."""
    check = record["metrics"]["semirobustness"]
    return pd.DataFrame({"layer i": range(1, check["n_layers"]), "gamma_i (normalised)": check["gamma_layers"],
                         "gamma_i (sign)": check["gamma_layers_sign"], "gamma_i (raw)": check["gamma_layers_raw"],
                         "first-step term (raw)": check["lemma2"]["first_step_terms"]})


def lemma2_caption(record: dict) -> str:
    """The Markdown caption of :func:`lemma2_frame`: gamma_n against sum gamma_i and the attack."""
    check = record["metrics"]["semirobustness"]
    lemma = check["lemma2"]
    return (f"**Lemma 2** (gamma_n = {lemma['gamma_n']:.4g} vs sum gamma_i = {lemma['lemma2_sum_gamma_layers']:.4g}; "
            f"PGD {check['steps']} steps, {check['restarts']} restart(s), {check['n_eval']} images).")


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def theorem3_statements(record: dict) -> list[str]:
    """Sentences on Lemma 2 and Theorem 3, each saying what was tested and what was not."""
    check, verdict = record["metrics"]["semirobustness"], record["metrics"]["checks"]
    lemma, n = check["lemma2"], check["n_layers"]
    attack = (f"PGD at eps = {check['eps'] * 255:.0f}/255 ({check['steps']} steps, {check['restarts']} restart(s), "
              f"{check['n_eval']} held-out images; PGD gives upper bounds of the infima)")
    lines = [
        f"Lemma 2 (a = n-1 = {n - 1}): gamma_n of the least-squares read-out of y from all earlier layers, normalised "
        f"to [-1, 1], is {lemma['gamma_n']:.3g}; the sum of the layers' own gamma_i (each layer's read-out, normalised) "
        f"is {lemma['lemma2_sum_gamma_layers']:.3g}. gamma_n >= sum gamma_i: {_yes(verdict['lemma2_holds'])} "
        f"(sign read-outs: {lemma['gamma_n_sign']:.3g} vs {lemma['lemma2_sum_gamma_layers_sign']:.3g}, "
        f"{_yes(verdict['lemma2_holds_sign'])}). With G into the labels gamma_n <= 1, so the lemma's constant is "
        f"attainable only if sum gamma_i <= 1: {_yes(verdict['lemma2_sum_possible'])}. "
        + (f"The lemma's premise fails here: {verdict['lemma2_layers_nonpositive']} of {n - 1} layers have "
           f"gamma_i <= 0 (not linearly connected with a positive margin under this attack), so both comparisons "
           f"pass or fail for a reason unrelated to the lemma and test nothing. "
           if not verdict.get("lemma2_premise_met", True) else
           "Every layer has gamma_i > 0, so the lemma's premise holds for these read-outs. ")
        + f"Tested: these read-outs, {attack}; not tested: other maps G, which Definition 1 allows.",
        f"The proof's first step, gamma_n >= sum_i E inf y Lambda_in^T f^(i) (raw: {lemma['gamma_n_raw']:.3g} vs "
        f"{lemma['first_step_sum']:.3g}), holds for every network because an infimum of a sum is at least the sum of "
        f"the infima; it is shown, not tested (a negative gap, here {verdict['first_step_gap']:.2g}, would only mean "
        f"PGD missed an infimum)."]
    for e, v in zip(check["theorem3"], verdict["theorem3"]):
        a = e["fa_layers"]
        if e["trivial"]:
            lines.append(f"Theorem 3, a = {a} = n-1: the factor (n-1-a)(n-a)/2 is 0, so the formula asks only "
                         f"gamma_b >= 0; this case is trivial and tests nothing about linear connectivity "
                         f"(measured gamma_b = {e['gamma_b']:.3g}"
                         + ("; below 0, so the last layer's read-out is not linearly connected at this eps either)."
                            if e["gamma_b"] < 0 else ")."))
            continue
        if not v.get("premise_met", e["gamma_a"] > 0):
            lines.append(f"Theorem 3, a = {a} ({e['fb_layers']} linear f_b layers, factor {e['factor']:g}): measured "
                         f"gamma_a = {e['gamma_a']:.3g} <= 0, so f*_a is not linearly connected with a positive margin "
                         f"and the theorem's premise fails; 'possible' and 'gamma_b >= gamma_a x factor' "
                         f"({e['gamma_b']:.3g} vs {e['predicted']:.3g}) then hold or fail for a reason unrelated to "
                         f"the theorem, and this row tests nothing.")
            continue
        lines.append(
            f"Theorem 3, a = {a} ({e['fb_layers']} linear f_b layers, factor {e['factor']:g}): with G into the labels "
            f"gamma_b <= 1, so gamma_b = gamma_a x {e['factor']:g} is impossible once gamma_a > "
            f"{e['gamma_a_max_possible']:.3g}. Measured gamma_a = {e['gamma_a']:.3g} (normalised read-out of layer {a}; "
            f"sign read-out {e['gamma_a_sign']:.3g}): possible {_yes(v['possible'])} (sign: {_yes(v['possible_sign'])}). "
            f"Measured gamma_b = {e['gamma_b']:.3g} against gamma_a x factor = {e['predicted']:.3g}: "
            f"gamma_b >= it {_yes(v['lower_bound_held'])} (sign: {e['gamma_b_sign']:.3g} vs {e['predicted_sign']:.3g}, "
            f"{_yes(v['lower_bound_held_sign'])}). Tested: these least-squares read-outs on an exactly linear f_b, "
            f"{attack}; not tested: the best G of Definition 1 (a shortfall here does not refute the theorem; "
            f"an impossible gamma_a does, for every G into the labels).")
    return lines


def theorem3_glue_values(record: dict) -> dict:
    """The numbers and tables the book pages glue from the theorem3 notebook, by glue name.

    Table S1's accuracies are those of the largest f*_a (one decimal, ``"n/a"`` for an attack the run
    left out); Theorem 3's are those of the smallest non-trivial a (``"n/a"`` when every a is trivial).
    """
    config, metrics = record["config"], record["metrics"]
    check, verdict = metrics["semirobustness"], metrics["checks"]
    lemma = check["lemma2"]
    rows = pd.DataFrame(metrics["table_s1"])
    largest = rows[rows.fa_layers == max(config["fa_sizes"])]
    values = {"theorem3_profile": record["profile"], "theorem3_dataset": config["dataset"],
              "theorem3_model": config["arch"], "theorem3_fa_layers": max(config["fa_sizes"])}
    for name in GLUE_ATTACKS:
        row = largest[largest.attack == name]
        for column in GLUE_S1_COLUMNS:
            value = row[column].iloc[0] if len(row) else None
            values[f"theorem3_{column}_{name}"] = f"{value:.1f}" if value is not None else "n/a"
    values["theorem3_lemma2_gamma_n"] = f"{lemma['gamma_n']:.3g}"
    values["theorem3_lemma2_sum_gamma_layers"] = f"{lemma['lemma2_sum_gamma_layers']:.3g}"
    values["theorem3_lemma2_holds"] = "held" if verdict["lemma2_holds"] else "did not hold"
    values["theorem3_lemma2_premise"] = (
        "every layer had gamma_i > 0, so the lemma's premise held for these read-outs"
        if verdict["lemma2_premise_met"] else
        f"{verdict['lemma2_layers_nonpositive']} of {check['n_layers'] - 1} layers had gamma_i <= 0 (not linearly "
        "connected with a positive margin), so the lemma's premise failed and the comparison tests nothing")
    pgd_row = largest[largest.attack == "pgd"]
    values["theorem3_adaptive_note"] = (
        "the adaptive attack found weaker points than the transfer inputs here, so the predictor's robust accuracy is "
        "at most the lower of the two" if len(pgd_row) and bool(pgd_row["adaptive_weaker"].iloc[0]) else
        "the adaptive attack was at least as strong as the transfer inputs")
    values["theorem3_lemma2_first_step_sum"] = f"{lemma['first_step_sum']:.3g}"
    values["theorem3_lemma2_gamma_n_raw"] = f"{lemma['gamma_n_raw']:.3g}"
    nontrivial = [e for e in check["theorem3"] if not e["trivial"]]
    smallest = min(nontrivial, key=lambda e: e["fa_layers"]) if nontrivial else None
    values["theorem3_a"] = smallest["fa_layers"] if smallest else "n/a"
    values["theorem3_factor"] = smallest["factor"] if smallest else "n/a"
    for key in ("gamma_a", "gamma_a_max_possible", "gamma_b"):
        values[f"theorem3_{key}"] = f"{smallest[key]:.3g}" if smallest else "n/a"
    values["theorem3_impossible"] = sum(not v["possible"] for v in verdict["theorem3"])
    values["theorem3_tested"] = len(nontrivial)
    values["theorem3_premise_failed"] = sum(not v["trivial"] and not v["premise_met"] for v in verdict["theorem3"])
    values["s1_adaptive_sentence"] = as_sentence(s1_adaptive_sentence(record))
    values["theorem3_table_s1"] = table_s1_frame(record).round(2)
    values["theorem3_table"] = theorem3_frame(record).round(4)
    return values


@book_style
def plot_table_s1(record: dict):
    """Acc*, Acc~ (transfer, adaptive, in-sample) and Acc_rand per attack and f*_a size, one panel per attack."""
    frame = pd.DataFrame(record["metrics"]["table_s1"])
    attacks = list(dict.fromkeys(frame["attack"]))
    fig, axes = book_figure(len(attacks), height=2.6, ncols=2, sharey=True)
    for ax in axes.flat[len(attacks):]:
        fig.delaxes(ax)
    for ax, name in zip(axes.flat, attacks):
        part = frame[frame["attack"] == name].sort_values("fa_layers")
        for column, label, style in (("acc_star", "Acc* (network)", "k-"),
                                     ("acc_tilde_transfer", "Acc~ transfer (fit on train, test)", "o-"),
                                     ("acc_tilde_adaptive", "Acc~ adaptive (attack on the predictor)", "v-"),
                                     ("acc_tilde_in_sample", "Acc~ in-sample (authors' pinv)", "s--"),
                                     ("acc_rand", "Acc_rand", "x:")):
            ax.plot(part["fa_layers"], part[column].astype(float), style, label=label)
        ax.set_title("clean" if name == "none" else name)
        ax.set_xlabel("f*_a layers used")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for row in axes:
        row[0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"Algorithm S1: {record['config']['arch']} on {record['config']['dataset']} "
                 f"(profile={record['profile']})")
    return fig


@book_style
def plot_gammas(record: dict):
    """gamma_j of every layer: the trained f_a layers and the linear f_b layers of each construction."""
    check = record["metrics"]["semirobustness"]
    n = check["n_layers"]
    fig, axes = book_figure(2, height=3.2)
    axes = axes[0]
    for ax, suffix, title in ((axes[0], "", f"attacked (PGD, eps={check['eps'] * 255:.0f}/255)"), (axes[1], "_clean", "clean")):
        layers = check["gamma_layers" + suffix]
        ax.plot(range(1, n), layers, "k.-", label="trained layers (read-out G_j)")
        for e in check["theorem3"]:
            a = e["fa_layers"]
            ax.plot(range(a + 1, n + 1), e["gamma_fb_layers" + suffix], "o-", ms=3, label=f"linear f_b, a={a}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("layer j")
        ax.set_title(title)
    axes[0].set_ylabel("gamma_j = E inf y G_j(F^(j)(X+delta))")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return fig


def s1_adaptive_frame(record: dict) -> pd.DataFrame:
    """Per attacked input and split a: Acc*, the linear read-out's transfer and adaptive accuracy, the gap
    between them, and whether the row is the trivial a = n-1 (f_b is the last layer alone, which a linear
    read-out of f*_a reproduces exactly)."""
    n = record["metrics"]["semirobustness"]["n_layers"]
    frame = pd.DataFrame(record["metrics"]["table_s1"])
    frame = frame[(frame.attack != "none") & frame.acc_tilde_adaptive.notna()].copy()
    frame["transfer_minus_adaptive"] = frame.acc_tilde_transfer - frame.acc_tilde_adaptive.astype(float)
    frame["trivial"] = frame.fa_layers == n - 1
    return frame[["attack", "fa_layers", "fb_layers", "trivial", "acc_star", "acc_tilde_transfer",
                  "acc_tilde_adaptive", "transfer_minus_adaptive", "agreement"]].sort_values(
        ["attack", "fa_layers"], ascending=[True, False]).reset_index(drop=True)


def _strongest_attack(frame: pd.DataFrame) -> str | None:
    for name in ("autoattack", "pgd", "fgsm"):
        if (frame.attack == name).any():
            return name
    return None


def s1_adaptive_sentence(record: dict) -> str:
    """What the adaptive attack shows, from the record: the linear read-out's adaptive against transfer accuracy
    at every non-trivial split under the strongest attack run, and the trivial a = n-1 row named as such."""
    frame = s1_adaptive_frame(record)
    name = _strongest_attack(frame)
    if name is None:
        return "no attacked Table S1 row with an adaptive attack is in this record"
    part = frame[frame.attack == name]
    rows, trivial = part[~part.trivial], part[part.trivial]
    label = "PGD and APGD-CE" if name != "fgsm" else "FGSM"
    text = f"attacked directly ({label} on the linear predictor, {name} row), the linear read-out of the robust f*_a "
    if len(rows):
        text += ("falls to " + ", ".join(f"{r.acc_tilde_adaptive:.1f}% (a = {r.fa_layers})" for r in rows.itertuples())
                 + " against transfer accuracies of "
                 + ", ".join(f"{r.acc_tilde_transfer:.1f}%" for r in rows.itertuples())
                 + f", while the network keeps Acc* = {rows.acc_star.iloc[0]:.1f}%; transfer accuracy overstates the "
                 f"read-out's robustness by up to {rows.transfer_minus_adaptive.max():.1f} points")
    else:
        text += "has no non-trivial split in this run"
    if len(trivial):
        r = trivial.iloc[0]
        text += (f". The row a = {r.fa_layers} = n-1 is trivial: f_b is the final layer alone, which a linear read-out "
                 f"reproduces (agreement {r.agreement:.1f}%), and it keeps {r.acc_tilde_adaptive:.1f}%")
    return text


@book_style
def plot_s1_adaptive(record: dict):
    """Transfer against adaptive accuracy of the linear read-out, per attacked input, across every split a;
    Acc* for reference and the trivial a = n-1 marked."""
    frame = s1_adaptive_frame(record)
    attacks = list(dict.fromkeys(frame.attack))
    n = record["metrics"]["semirobustness"]["n_layers"]
    fig, axes = book_figure(max(1, len(attacks)), height=2.6, ncols=2, sharey=True)
    for ax in axes.flat[len(attacks):]:
        fig.delaxes(ax)
    for ax, name in zip(axes.flat, attacks):
        part = frame[frame.attack == name].sort_values("fa_layers")
        ax.plot(part.fa_layers, part.acc_star, "k--", lw=1, label="Acc* (network)")
        ax.plot(part.fa_layers, part.acc_tilde_transfer, "o-", label="linear read-out, transfer")
        ax.plot(part.fa_layers, part.acc_tilde_adaptive.astype(float), "v-", label="linear read-out, adaptive")
        if part.trivial.any():
            ax.axvspan(n - 1.4, n - 0.6, color="0.9", zorder=0)
            ax.annotate("a = n-1:\ntrivial", (n - 1, 50), ha="center", color="0.35")
        ax.set_title(name)
        ax.set_xlabel("a (layers of f*_a read out)")
        ax.set_ylim(-3, 103)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for row in axes:
        row[0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"Algorithm S1, transfer against adaptive: {record['config']['arch']} on "
                 f"{record['config']['dataset']} (profile={record['profile']})")
    return fig
