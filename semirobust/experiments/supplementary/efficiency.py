"""What subnetwork training saves: the analytic cost model at one network and the measured figures of gpu_check.

The analytic model is :mod:`semirobust.cost`'s layer-pass model (:func:`semirobust.cost.step_forwards`),
with forward multiply-accumulates (MACs) of every Conv2d/Linear layer counted by forward hooks. With ``F``
the forward cost of the whole network and ``F_b`` that of f_b, a backward pass costs about ``F`` for the
input gradients plus ``F`` for the weight gradients. One PGD-K adversarial training step then costs (PGD
needs only input gradients, through the whole network):

* plain (standard) step: ``F + 2F = 3F``
* full adversarial step: ``K * 2F + 3F``
* frozen f_a: ``K * 2F + F + 2F_b`` (the training backward stops at f_b's input)

so the FLOP saving of a frozen step is ``2(F - F_b) / ((2K + 3) F)``. Memory: freezing f_a drops its
weight gradients and SGD momentum (2 x its parameter bytes); activation memory is the same because
PGD back-propagates through f_a. ``load_check`` and the ``*_table`` helpers read
``benchmarks/results/gpu_check_<device>.json`` for the efficiency notebook.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from torch import nn

from semirobust.cost import (
    PAPER_TRAIN_ATTACK_STEPS,
    algorithm1_cost,
    layer_flops,
    step_forwards,
    training_grad_evals,
)
from semirobust.experiments.report.markup import plain_markdown
from semirobust.experiments.report.verdicts import interval_status, reading
from semirobust.models import split_fa_fb, trainable_layers
from semirobust.utils import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
#: PGD iterations of the training attack (supplementary III.A).
PGD_STEPS = PAPER_TRAIN_ATTACK_STEPS


def layer_macs(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, int]]:
    """Forward MACs per image of every Conv2d/Linear layer, in registration order, with the layers' names
    (:func:`semirobust.cost.layer_flops`)."""
    names = [name for name, _ in trainable_layers(model)]
    return [(name, int(flops)) for name, flops in zip(names, layer_flops(model, input_shape))]


def analytic_costs(model: nn.Module, input_shape: tuple[int, ...], fb_layers: int, steps: int = PGD_STEPS) -> dict:
    """The cost model of the module docstring for one f_b size, in units of one forward pass F."""
    macs = layer_macs(model, input_shape)
    total = sum(m for _, m in macs)
    fb_frac = sum(m for _, m in macs[-fb_layers:]) / total
    plain, full = step_forwards(0), step_forwards(steps)
    frozen = step_forwards(steps, fb_frac)
    split = split_fa_fb(model, fb_layers)
    try:
        fa_params = sum(p.numel() for p in split.fa_parameters())
    finally:
        split.undo()
    n_params = sum(p.numel() for p in model.parameters())
    return {"forward_macs_per_image": total, "fb_forward_fraction": fb_frac, "steps": steps,
            "plain_step_F": plain, "full_step_F": full, "frozen_step_F": frozen,
            "throughput_frozen_over_full": full / frozen, "full_over_plain": full / plain,
            "frozen_over_plain": frozen / plain, "ideal_multiple": training_grad_evals(steps),
            "params": n_params, "fa_params": fa_params,
            "fp32_state_saved_mb": 2 * fa_params * 4 / 2**20}


def load_check(device: str = "cpu", results_dir=None) -> dict | None:
    """The JSON written by ``benchmarks/gpu_check.py --device <device>``, or None when absent."""
    path = Path(results_dir or RESULTS_DIR) / f"gpu_check_{device}.json"
    return json.loads(path.read_text()) if path.exists() else None


def report_case(report: dict, shape: str, arch: str) -> dict:
    """The measured case of ``(shape, arch)`` in a report; a ValueError naming the measured ones otherwise."""
    for case in report["cases"]:
        if case["shape"] == shape and case["arch"] == arch:
            return case
    measured = ", ".join(f"{c['shape']}/{c['arch']}" for c in report["cases"]) or "none"
    raise ValueError(f"No measured case shape={shape!r}, arch={arch!r} in this report; measured (shape/arch): "
                     f"{measured}. Pick one of them, or rerun benchmarks/gpu_check.py with --shapes {shape}.")


def step_rows(report: dict) -> list[dict]:
    """One flat row per measured step (shape, arch, variant, f_b, precision, img/s, memory, multiple)."""
    rows = []
    for case in report["cases"]:
        for m in case["measurements"]:
            if m.get("skipped"):
                continue
            rows.append({"shape": case["shape"], "arch": case["arch"], "variant": m["variant"],
                         "fb_layers": m["fb_layers"], "precision": m["precision"],
                         "images_per_s": m["images_per_s"], "step_s": m["step_s"], "memory_mb": m["memory_mb"],
                         "multiple_of_plain": m.get("multiple_of_plain")})
    return rows


def ratio_rows(report: dict) -> list[dict]:
    """One row per (case, f_b, precision): frozen/full and frozen/authors throughput and memory ratios."""
    rows = []
    for case in report["cases"]:
        for r in case["ratios"]:
            rows.append({"shape": case["shape"], "arch": case["arch"], **r})
    return rows


def missed_targets(report: dict) -> list[dict]:
    """Every missed throughput target with by how much, next to the spread of the repeated timings behind it.

    A throughput ratio a/b is the ratio of median step times; when the miss is smaller than the spread
    (max - min over the repeats, relative to the median) of either step it compares, the repeats cannot
    tell the two steps apart and the miss is noise, not a slower step.
    """
    rows = []
    for key, target in report.get("targets", {}).items():
        if target["met"] or "throughput" not in key:
            continue
        shape, arch, fb, precision, name = key.split("/")
        case = report_case(report, shape, arch)
        other = name.rsplit("_over_", 1)[1]
        steps = {(m["variant"], m["fb_layers"]): m for m in case["measurements"]
                 if m["precision"] == precision and not m.get("skipped")}
        fb_layers = int(fb.removeprefix("fb"))
        compared = [steps[("frozen", fb_layers)], steps[(other, None if other == "full" else fb_layers)]]
        spreads = [(max(m["step_s_all"]) - min(m["step_s_all"])) / m["step_s"] for m in compared
                   if len(m.get("step_s_all") or []) > 1]
        shortfall = 1.0 - target["measured"]
        spread = max(spreads) if spreads else None
        rows.append({"target": key, "measured": target["measured"], "wanted": target["target"],
                     "short_by": shortfall, "repeat_spread": spread,
                     "reading": ("within the repeats' spread: noise, not a slower step" if spread is not None and
                                 shortfall < spread else "larger than the repeats' spread: a real shortfall"),
                     "analytic": case["analytic"][str(fb_layers)]["throughput_frozen_over_full"]})
    return rows


def summary(report: dict, shape: str, arch: str, fb_layers: int, precision: str = "fp32") -> dict:
    """Ratios and multiples of one (shape, arch, f_b, precision) for the book's glued values."""
    case = report_case(report, shape, arch)
    ratio = next(r for r in case["ratios"] if r["fb_layers"] == fb_layers and r["precision"] == precision)
    steps = {(m["variant"], m["fb_layers"]): m for m in case["measurements"]
             if m["precision"] == precision and not m.get("skipped")}
    full, frozen = steps[("full", None)], steps[("frozen", fb_layers)]
    analytic = case["analytic"][str(fb_layers)]
    return {**ratio, "full_multiple": full["multiple_of_plain"], "frozen_multiple": frozen["multiple_of_plain"],
            "analytic_throughput_ratio": analytic["throughput_frozen_over_full"],
            "analytic_full_multiple": analytic["full_over_plain"],
            "analytic_state_saved_mb": analytic["fp32_state_saved_mb"],
            "memory_saved_mb": full["memory_mb"] - frozen["memory_mb"]}


def book_values(report: dict, shape: str = "cifar10", arch: str = "vgg16", fb_layers: int = 12,
                other_fb: int | None = 4, precision: str = "fp32") -> dict:
    """The figures the book quotes from one report: step ratios, memory, multiples, attacks (step-time ratios
    are inverted throughput ratios). What a whole method costs to reach a robust accuracy is the pays page's
    (semirobust.experiments.supplementary.pays), measured, not modelled from step times."""
    main = summary(report, shape, arch, fb_layers, precision)
    values = {"frozen_over_full": main["throughput_frozen_over_full"],
              "frozen_over_authors": main["throughput_frozen_over_authors"],
              "memory_frozen_over_full": main["memory_frozen_over_full"],
              "memory_frozen_over_authors": main["memory_frozen_over_authors"],
              "memory_saved_mb": main["memory_saved_mb"], "analytic_ratio": main["analytic_throughput_ratio"],
              "analytic_state_saved_mb": main["analytic_state_saved_mb"], "full_multiple": main["full_multiple"],
              "frozen_multiple": main["frozen_multiple"], "analytic_full_multiple": main["analytic_full_multiple"]}
    if other_fb is not None:
        other = summary(report, shape, arch, other_fb, precision)
        values.update({"frozen_over_full_other": other["throughput_frozen_over_full"],
                       "frozen_over_authors_other": other["throughput_frozen_over_authors"],
                       "analytic_ratio_other": other["analytic_throughput_ratio"]})
    attacks = report.get("attacks", {})
    if "seconds_per_image" in attacks.get("autoattack_standard", {}):
        values.update({"autoattack_ms_per_image": 1e3 * attacks["autoattack_standard"]["seconds_per_image"],
                       "apgd_ce_ms_per_image": 1e3 * attacks["apgd_ce"]["seconds_per_image"],
                       "autoattack_over_apgd_ce": attacks["autoattack_over_apgd_ce"]})
    return values


#: the ratio table's columns as the page shows them (short, so that the table fits the column).
RATIO_HEADERS = {"fb_layers": "f_b layers", "precision": "precision", "throughput_frozen_over_full": "speed frozen/full",
                 "throughput_frozen_over_authors": "speed frozen/authors", "memory_frozen_over_full": "memory frozen/full",
                 "memory_frozen_over_authors": "memory frozen/authors", "analytic": "model frozen/full"}
STEP_HEADERS = {"variant": "step", "fb_layers": "f_b layers", "precision": "precision", "images_per_s": "images/s",
                "step_s": "seconds", "memory_mb": "memory (MB)", "multiple_of_plain": "plain steps"}


def ratio_table(report: dict) -> pd.DataFrame:
    """The measured ratios of one report as the page shows them: one row per (case, f_b, precision), speed
    (throughput) and memory of the frozen step over the full and over the authors' loop, and the analytic
    model's speed ratio; two decimals."""
    rows = []
    for case in report["cases"]:
        for r in case["ratios"]:
            rows.append({**r, "analytic": case["analytic"][str(r["fb_layers"])]["throughput_frozen_over_full"]})
    frame = pd.DataFrame(rows, columns=list(RATIO_HEADERS))
    return frame.rename(columns=RATIO_HEADERS).round(2)


def step_table(report: dict) -> pd.DataFrame:
    """Every measured step of one report as the page shows it (step time, memory, multiple of a plain step)."""
    frame = pd.DataFrame(step_rows(report)).reindex(columns=list(STEP_HEADERS))
    frame["fb_layers"] = ["" if pd.isna(v) else str(int(v)) for v in frame["fb_layers"]]
    return frame.rename(columns=STEP_HEADERS).round({"images/s": 1, "seconds": 3, "memory (MB)": 1, "plain steps": 2})


def missed_sentences(report: dict) -> list[str]:
    """Each missed throughput target of :func:`missed_targets` as one sentence."""
    out = []
    for row in missed_targets(report):
        spread = "" if row["repeat_spread"] is None else f"; the repeats spread by {row['repeat_spread']:.2f}"
        out.append(f"{row['target']}: measured {row['measured']:.2f} against {row['wanted']}, short by "
                   f"{row['short_by']:.2f}{spread}: {row['reading']} (the analytic model gives {row['analytic']:.2f})")
    return out


def speed_range(report: dict, shape: str, arch: str, fb_layers: int, precision: str = "fp32") -> dict:
    """The frozen step's speed over the full step's (full step time over frozen step time): the ratio of the
    medians, and its range over the repeats (slowest frozen against fastest full, and the other way)."""
    case = report_case(report, shape, arch)
    steps = {(m["variant"], m["fb_layers"]): m for m in case["measurements"]
             if m["precision"] == precision and not m.get("skipped")}
    full, frozen = steps[("full", None)], steps[("frozen", fb_layers)]
    full_all, frozen_all = full.get("step_s_all") or [full["step_s"]], frozen.get("step_s_all") or [frozen["step_s"]]
    return {"ratio": full["step_s"] / frozen["step_s"], "low": min(full_all) / max(frozen_all),
            "high": max(full_all) / min(frozen_all), "repeats": min(len(full_all), len(frozen_all))}


def efficiency_claim(report: dict, shape: str = "cifar10", arch: str = "vgg16", fb_layers: int = 12,
                     precision: str = "fp32") -> tuple[str, str, str]:
    """The efficiency verdict box: (result, status, reading). The claim (Section 2.1): training the subnetwork
    needs less computation, i.e. a frozen-f_a step is faster than a full one (speed ratio above 1); read on the
    range over the timing repeats."""
    speed = speed_range(report, shape, arch, fb_layers, precision)
    main = summary(report, shape, arch, fb_layers, precision)
    result = (f"Frozen-f_a PGD-{PGD_STEPS} step against the full one, {arch} with f_b = {fb_layers} on "
              f"{shape}-shaped images ({report['device']}): speed {speed['ratio']:.2f}x (range over {speed['repeats']} "
              f"repeats {speed['low']:.2f} to {speed['high']:.2f}; the analytic model {main['analytic_throughput_ratio']:.2f}), "
              f"memory {main['memory_frozen_over_full']:.2f}x.")
    why = "one timing repeat" if speed["repeats"] < 2 else ""
    status = "undecided" if why else interval_status(speed["low"], speed["high"], 1.0, "above")
    return result, status, reading(status, "1, the same speed", "above", no_interval=why)


def settings_text(report: dict) -> str:
    """One line naming the device and the reduced settings a report was measured with."""
    case = report["cases"][0]
    basis = next((m["step_basis"] for m in case["measurements"] if "step_basis" in m), "wall clock")
    return (f"{report['device']}, torch {report['torch']}, width {report['width']}, batch {case['batch']}, "
            f"{report['timed_steps']} timed step(s) after {report['warmup_steps']} warm-up, step time from "
            f"{basis}, memory as {case['measurements'][0]['memory_kind']}, synthetic "
            f"{case['image']}x{case['image']} images ({report['created_at'][:10]})")


def settings_lines(cpu: dict, gpu: dict | None) -> list[str]:
    """The page's opening lines (Markdown): where and how the CPU and GPU figures were measured."""
    return ["**CPU figures:** " + plain_markdown(settings_text(cpu)) + ".",
            "**GPU figures:** " + (plain_markdown(settings_text(gpu)) + "." if gpu else
                                   "not measured yet: no `benchmarks/results/gpu_check_cuda.json` is committed "
                                   "(no GPU was available to the sessions that built this page).")]


def gpu_target_sentences(gpu: dict) -> list[str]:
    """How many GPU targets were met, then each missed one with its measured value."""
    missed = {k: t for k, t in gpu["targets"].items() if t["met"] is False}
    return ([f"GPU targets: {sum(t['met'] is True for t in gpu['targets'].values())} met, {len(missed)} missed"]
            + [f"  {k}: {t['measured']:.2f} (target {t['target']})" for k, t in missed.items()])


def attack_cost_lines(reports: dict) -> list[str]:
    """Per report (``{"CPU": cpu, "GPU": gpu}``, None skipped) that timed the attacks, one Markdown line: standard
    AutoAttack and APGD-CE per image, their ratio and the network's clean accuracy."""
    lines = []
    for label, report in reports.items():
        attacks = (report or {}).get("attacks", {})
        if "seconds_per_image" in attacks.get("autoattack_standard", {}):
            lines.append(
                f"**{label}, attack cost** on {attacks['images']} CIFAR-shaped images ({attacks['arch']}): standard "
                f"AutoAttack {1e3 * attacks['autoattack_standard']['seconds_per_image']:.1f} ms per image, APGD-CE alone "
                f"{1e3 * attacks['apgd_ce']['seconds_per_image']:.1f} ms per image "
                f"({attacks['autoattack_over_apgd_ce']:.1f}x); clean accuracy of the network "
                f"{100 * attacks['clean_accuracy']:.0f}%: {plain_markdown(attacks['note'])}.")
    return lines


def profile_sentence(report: dict, device: str) -> str:
    """The page's profile stamp: no scale profile, the benchmark's device and settings."""
    return f"no scale profile: a timing benchmark on {device}, {settings_text(report)}"


def quoted_frame(values: dict) -> pd.DataFrame:
    """The numbers the text quotes (:func:`book_values`), one row each, rounded to 3 decimals."""
    return pd.DataFrame([{"quantity": key.replace("_", " "), "value": round(value, 3)} for key, value in values.items()])


__all__ = ["settings_lines", "gpu_target_sentences", "attack_cost_lines", "profile_sentence", "quoted_frame", "report_case",
           "missed_targets", "RESULTS_DIR", "PGD_STEPS", "layer_macs", "analytic_costs", "load_check", "step_rows",
           "ratio_rows", "summary", "algorithm1_cost", "book_values", "settings_text", "RATIO_HEADERS", "STEP_HEADERS",
           "ratio_table", "step_table", "missed_sentences", "speed_range", "efficiency_claim"]
