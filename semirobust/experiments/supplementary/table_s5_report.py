"""Table S5 of the supplementary as the ``pays`` page shows it: the methods' columns over the profile's seeds
(:func:`table_s5_frame`), the supplementary's own rows (:func:`reported_table_s5`) and the sentence comparing
them. An arm whose network did not train (:mod:`semirobust.experiments.supplementary.collapse`) shows its diagnosis
where its Diff would be, never a number (:func:`trades_diagnosis` says it of TRADES). The runs are
:mod:`semirobust.experiments.supplementary.table_s5`'s."""
from __future__ import annotations

import csv
import dataclasses
from importlib import resources

import numpy as np
import pandas as pd

from semirobust.at_methods import TRADES_BETA
from semirobust.config import DATASET_SPECS, RunConfig
from semirobust.cost import training_cost
from semirobust.experiments.supplementary.collapse import LOSS_TOLERANCE, arm_diagnosis, diagnosis_text, rule_text
from semirobust.experiments.supplementary.pays_report import interval_text
from semirobust.experiments.supplementary.table_s5 import run_table_s5_seed
from semirobust.experiments.table1.arms import ARMS, TABLE_S5_ARMS
from semirobust.experiments.table1.configs import SEED_KIND, summary_config
from semirobust.experiments.table1.report import rho_at
from semirobust.inference import mean_and_half
from semirobust.models import build_model
from semirobust.results import ResultsStore

#: Table S5's method names as the supplementary prints them, and ours
S5_NAMES = {"adversarial": "PGD", "atta": "ATTA", "trades": "TRADES"}
S5_REPORTED_NAMES = {"pgd10": "PGD-10", "atta": "ATTA", "trades": "TRADES", "atta_trades": "ATTA+TRADES"}
S5_OFFSETS = (0, 3, 7, 11)


def table_s5_runs(config: RunConfig, *, results_dir=None) -> list[tuple[dict, dict]]:
    """Per seed of the profile's ``table_s5_seeds``: the seed's record and ``{method: arm metrics}``."""
    store = ResultsStore(results_dir)
    seeds = [dataclasses.replace(config, seed=config.seed + s) for s in config.resolved_profile.table_s5_seeds]
    return [(store.read(SEED_KIND, summary_config(c)), run_table_s5_seed(c, results_dir=results_dir)) for c in seeds]


def diagnoses(per_seed: list[tuple[dict, dict]], method: str, num_classes: int) -> list[dict]:
    """:func:`~semirobust.experiments.supplementary.collapse.arm_diagnosis` of ``method``'s arm in every seed."""
    return [arm_diagnosis(arms[method], num_classes) for _, arms in per_seed]


def pooled_diagnosis(found: list[dict]) -> dict:
    """The seeds' diagnoses of one method as one: mean loss and accuracy over the seeds that did not train
    (over all seeds when every one trained)."""
    failed = [d for d in found if d["did_not_train"]] or found
    return {**failed[0], "loss": float(np.mean([d["loss"] for d in failed])),
            "acc": float(np.mean([d["acc"] for d in failed])),
            "did_not_train": all(d["did_not_train"] for d in found)}


def diff_cell(diffs: list[float | None], found: list[dict]) -> str:
    """Diff over the seeds whose arm trained (mean ± 95% half-width), the count of those that did not beside it;
    the diagnosis alone when no seed trained."""
    trained = [d for d, f in zip(diffs, found) if d is not None and not f["did_not_train"]]
    failed = sum(f["did_not_train"] for f in found)
    if not trained:
        return diagnosis_text(pooled_diagnosis(found)) if failed else "–"
    return interval_text(trained) + (f" ({failed} of {len(found)} seeds did not train)" if failed else "")


def table_s5_frame(config: RunConfig, *, results_dir=None) -> pd.DataFrame:
    """Table S5's columns for each method over the profile's ``table_s5_seeds`` (mean ± 95% half-width where
    there are two seeds or more): Acc*, Acc~ (validation-selected, scored), Diff (paired per seed, over the
    seeds whose arm trained: a method that did not train shows its diagnosis instead), the epochs to
    reach Acc* (mean over the trials that came within k; – when none did), the mean trial time and training cost,
    and rho at the supplementary's offsets (EDGE, bits)."""
    profile = config.resolved_profile
    model = build_model(config.arch, config.dataset, width=profile.width)
    per_seed = table_s5_runs(config, results_dir=results_dir)
    num_classes = DATASET_SPECS[config.dataset].num_classes
    rows = []
    for method in profile.table_s5_methods:
        arm = ARMS[TABLE_S5_ARMS[method]]
        stars = [rec["metrics"]["acc_star"] for rec, _ in per_seed]
        tildes = [arms[method]["acc_tilde_unbiased"] for _, arms in per_seed]
        diffs = [None if t is None else t - s for t, s in zip(tildes, stars)]
        epochs = [arms[method]["epochs"] for _, arms in per_seed if arms[method]["epochs"] is not None]
        converged = sum(arms[method]["converged_trials"] for _, arms in per_seed)
        trials = sum(len(arms[method]["trials"]) for _, arms in per_seed)
        time_s = [arms[method]["wall_time_s"] / len(arms[method]["trials"]) for _, arms in per_seed]
        n_train = per_seed[0][0]["extra"]["train_images"]
        cost = [sum(t["epochs_run"] for t in arms[method]["trials"]) / len(arms[method]["trials"]) *
                training_cost(model, arm.mode, config.fb_layers, n_train, profile.train_attack_steps)
                for _, arms in per_seed]
        row = {"Method": S5_NAMES[method], "Acc*": interval_text(stars), "Acc~": interval_text(tildes),
               "Diff": diff_cell(diffs, diagnoses(per_seed, method, num_classes)),
               "Epochs": (f"{np.mean(epochs):.1f}" if epochs else "–") + f" ({converged}/{trials} within k)",
               "Time (s)": f"{np.mean(time_s):.0f}", "Cost (10³)": f"{np.mean(cost) / 1e3:.1f}"}
        for offset in S5_OFFSETS:
            values = [rho_at(arms[method]["rho"], offset) for _, arms in per_seed]
            values = [v for v in values if v is not None and not np.isnan(v)]
            row["rho_n" if offset == 0 else f"rho_n-{offset}"] = f"{np.mean(values):.2f}" if values else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def diagnosis_sentence(per_seed: list[tuple[dict, dict]], method: str, num_classes: int) -> str:
    """One sentence on whether ``method``'s arm trained, from its training curves, with the guard's rule."""
    name = S5_NAMES.get(method, method)
    found = diagnoses(per_seed, method, num_classes)
    failed = [d for d in found if d["did_not_train"]]
    pooled = pooled_diagnosis(found)
    seeds = f"{len(found)} seed{'s' if len(found) != 1 else ''}"
    rule = f" (the guard: {rule_text(num_classes)})"
    if not failed:
        every = "its one seed" if len(found) == 1 else f"all {seeds}"
        return (f"The {name} arm trained in {every}: its trials ended at a training loss of {pooled['loss']:.2f} "
                f"(ln {num_classes} = {np.log(num_classes):.2f}) and a training accuracy of {pooled['acc']:.0f}% "
                f"(mean over the trials' last epochs){rule}.")
    tildes = [arms[method]["acc_tilde_unbiased"] for (_, arms), d in zip(per_seed, found) if d["did_not_train"]]
    tildes = [t for t in tildes if t is not None]
    acc = f" its Acc~ of {np.mean(tildes):.1f}% is a collapsed network's, not a result, so" if tildes else ""
    uniform = abs(pooled["loss"] - np.log(num_classes)) <= LOSS_TOLERANCE
    what = "the network's outputs are near uniform" if uniform else "a training accuracy near chance"
    found_text = diagnosis_text(pooled).removeprefix("did not train: ")
    return (f"The {name} arm did not train in {len(failed)} of {seeds} ({found_text}, the mean over the trials' last "
            f"epochs: {what});{acc} no Diff is shown for {'it' if len(failed) == len(found) else 'those seeds'}{rule}.")


def curve_text(per_seed: list[tuple[dict, dict]], method: str, labels=None) -> str:
    """The training curve of ``method``'s validation-selected trial in every seed (the trials' recorded
    ``train_loss`` and ``train_acc``), first and last epoch: what the guard reads, shown."""
    labels = list(range(len(per_seed))) if labels is None else list(labels)
    parts = []
    for label, (_, arms) in zip(labels, per_seed):
        arm = arms[method]
        curve = arm["trials"][arm.get("best_val_trial", 0)]["curve"]
        first, last = curve[0], curve[-1]
        parts.append(f"seed {label}: loss {first['train_loss']:.2f} → {last['train_loss']:.2f}, accuracy "
                     f"{first['train_acc']:.0f}% → {last['train_acc']:.0f}% over {len(curve)} epoch"
                     f"{'s' if len(curve) != 1 else ''}")
    loss = "CE + β·KL" if method == "trades" else "the training loss"
    return (f"Its training curves (the validation-selected trial of each seed, first → last epoch; loss {loss}, "
            f"accuracy on the attacked training batches, in train mode): {'; '.join(parts)}.")


def _kl_text(values: list[float]) -> str:
    mean, half = mean_and_half(values)
    return f"{mean:.3f}" + (f" ± {half:.3f}" if half is not None else "")


def trades_check_sentence(checks: list[dict], beta: float = TRADES_BETA, labels=None) -> str:
    """The measured dropout-noise and adversarial KLs of the TRADES arm
    (:func:`semirobust.experiments.supplementary.trades_check.table_s5_trades_checks`) as a sentence: on the arm's
    starting network (f*_a, f_b) and on its trained (validation-selected) network, mean ± 95% half-width over the
    seeds, with the seeds whose trained network could not be loaded named."""
    labels = list(range(len(checks))) if labels is None else list(labels)
    parts, first = [], None
    for which, what in (("start", "the arm's starting network (f*_a, f_b)"),
                        ("trained", "the trained, validation-selected TRADES network")):
        found = [c[which] for c in checks if c.get(which)]
        if not found:
            continue
        first = first or found[0]
        seeds = f"{len(found)} seed{'s' if len(found) != 1 else ''}"
        noise, adversarial = [f["dropout_kl"] for f in found], [f["adversarial_kl"] for f in found]
        parts.append(f"on {what} ({seeds}), a dropout-noise KL of {_kl_text(noise)} against an adversarial KL of "
                     f"{_kl_text(adversarial)}")
    if first is None:
        return "The dropout-noise and adversarial KLs were not measured: no seed has a TRADES arm here."
    text = (f"Measured on {first['n']} test images per network (nats; dropout-noise KL: two train-mode passes of the "
            "same clean images, f_b's Dropout the only difference, BatchNorm on its running statistics; adversarial "
            f"KL: KL(p_clean ‖ p_adv) in eval mode under TRADES's own attack at {first['eps'] * 255:g}/255, "
            f"{first['steps']} steps): " + "; ".join(parts))
    missing = [label for label, c in zip(labels, checks) if not c.get("trained")]
    if missing:
        text += (f" (seed{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}: the trained network is "
                 "not in the cache, measured on the starting network only)")
    starts = [c["start"] for c in checks if c.get("start") and c["start"]["adversarial_kl"] > 0]
    if starts:
        ratio = float(np.mean([beta * s["dropout_kl"] / s["adversarial_kl"] for s in starts]))
        reading = ("most of TRADES's KL term at the start is dropout noise, not the adversarial gap" if ratio > 1
                   else "the adversarial gap is most of TRADES's KL term at the start")
        text += (f". At the start, β = {beta:g} times the dropout-noise KL is {ratio:.2f} times the adversarial KL "
                 f"(mean over the seeds): {reading}")
    return text + "."


def trades_diagnosis(config: RunConfig, *, results_dir=None, checks: list[dict] | None = None) -> str:
    """:func:`diagnosis_sentence` of the TRADES arm over the profile's Table S5 seeds, its training curves
    (:func:`curve_text`) and, given ``checks`` (:func:`~semirobust.experiments.supplementary.trades_check.table_s5_trades_checks`),
    the measured KLs (:func:`trades_check_sentence`); glued as ``trades_diagnosis``."""
    profile = config.resolved_profile
    if "trades" not in profile.table_s5_methods:
        return "TRADES is not among this profile's Table S5 methods."
    per_seed = table_s5_runs(config, results_dir=results_dir)
    labels = [config.seed + s for s in profile.table_s5_seeds]
    text = (diagnosis_sentence(per_seed, "trades", DATASET_SPECS[config.dataset].num_classes) + " "
            + curve_text(per_seed, "trades", labels))
    return text + (" " + trades_check_sentence(checks, labels=labels) if checks is not None else "")


def acc_tilde_text(per_seed: list[tuple[dict, dict]], method: str) -> str:
    """``method``'s Acc~ over the seeds (mean ± 95% half-width, :func:`semirobust.inference.mean_and_half`; the
    value alone with one seed, ``–`` with none)."""
    mean, half = mean_and_half([arms[method]["acc_tilde_unbiased"] for _, arms in per_seed])
    if half is None:
        return "–" if np.isnan(mean) else f"{mean:.1f}"
    return f"{mean:.1f} ± {half:.1f}"


def trades_glue_values(config: RunConfig, *, results_dir=None, checks: list[dict] | None = None) -> dict:
    """The pays page's TRADES numbers: ``trades_diagnosis`` (:func:`trades_diagnosis`), ``trades_acc_tilde``
    (:func:`acc_tilde_text`) and ``table_s5_seeds`` (how many seeds Table S5 runs)."""
    profile = config.resolved_profile
    acc = (acc_tilde_text(table_s5_runs(config, results_dir=results_dir), "trades")
           if "trades" in profile.table_s5_methods else "–")
    return {"trades_diagnosis": trades_diagnosis(config, results_dir=results_dir, checks=checks),
            "trades_acc_tilde": acc, "table_s5_seeds": len(profile.table_s5_seeds)}


def reported_table_s5(fb_layers: int) -> pd.DataFrame:
    """The supplementary's Table S5 rows at ``fb_layers`` (VGG16, CIFAR-10, AutoAttack; data_files/README.md)."""
    with resources.files("semirobust").joinpath("data_files", "reported_table_s5.csv").open("r", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if int(r["fb_layers"]) == fb_layers]
    out = []
    for r in rows:
        row = {"Method": S5_REPORTED_NAMES[r["method"]] + " (reported)", "Acc*": r["acc_star"], "Acc~": r["acc_tilde"],
               "Diff": r["diff"], "Epochs": r["epochs"] or "–", "Time (s)": r["time_s"], "Cost (10³)": "–"}
        for offset, column in zip(S5_OFFSETS, ("rho_n", "rho_n_minus_3", "rho_n_minus_7", "rho_n_minus_11")):
            row["rho_n" if offset == 0 else f"rho_n-{offset}"] = r[column] or "–"
        out.append(row)
    return pd.DataFrame(out)


def table_s5_sentence(frame: pd.DataFrame, reported: pd.DataFrame | None = None) -> str:
    """Which f_b training method came closest to Acc* (by the mean Diff) and had the shortest trials, here and
    in the supplementary's rows (``reported``: :func:`reported_table_s5`)."""
    def mean(text):
        return float(text.split(" ")[0]) if text not in ("–", "") and not text.startswith("did not train") \
            else float("nan")
    diffs = {row["Method"]: mean(row["Diff"]) for _, row in frame.iterrows()}
    failed = [row["Method"] for _, row in frame.iterrows() if row["Diff"].startswith("did not train")]
    times = {row["Method"]: float(row["Time (s)"]) for _, row in frame.iterrows() if row["Method"] not in failed}
    shown = {m: d for m, d in diffs.items() if not np.isnan(d)}
    parts = ", ".join(f"{m} {d:+.1f}" for m, d in shown.items())
    text = f"Diff = Acc~ - Acc* per method (points): {parts or 'none'}"
    if failed:
        text += f" ({', '.join(failed)} did not train: no Diff)"
    if shown:
        text += f"; {max(shown, key=lambda m: shown[m])} came closest to Acc*"
    if times:
        text += f", and {min(times, key=lambda m: times[m])} had the shortest trials of the methods that trained"
    text += "."
    if reported is not None and len(reported):
        theirs = {row["Method"].replace(" (reported)", ""): float(row["Diff"]) for _, row in reported.iterrows()}
        their_times = {row["Method"].replace(" (reported)", ""): float(row["Time (s)"]) for _, row in reported.iterrows()}
        best = max(theirs, key=lambda m: theirs[m])
        text += (" In the supplementary (VGG16, CIFAR-10, AutoAttack) " + ", ".join(f"{m} {d:+.2f}" for m, d in theirs.items())
                 + f": {best} came closest, and {min(their_times, key=lambda m: their_times[m])} had the shortest trials.")
    return text


__all__ = ["S5_NAMES", "S5_REPORTED_NAMES", "S5_OFFSETS", "table_s5_runs", "diagnoses", "pooled_diagnosis", "diff_cell",
           "table_s5_frame", "diagnosis_sentence", "curve_text", "trades_check_sentence", "trades_diagnosis",
           "acc_tilde_text", "trades_glue_values", "reported_table_s5", "table_s5_sentence"]
