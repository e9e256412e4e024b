"""Where does freezing f_a pay? The efficiency page's reading of ``benchmarks/bench_freeze_pays.py``.

The benchmark times one training step of the frozen-f_a network against the full network's, interleaved, over
several rounds, for VGG16 and ResNet50 at several f_b sizes, with the PGD-5 training attack and with none, and
writes ``benchmarks/results/bench_freeze_pays.json``. Here that JSON becomes the page's table, figure, glued values
and verdicts. A verdict per f_b size reads the 95% t-interval of the per-round frozen/full time ratios with the
book's rules (:func:`semirobust.experiments.report.verdicts.interval_status`, the claim predicting a ratio below 1):
"faster" where the whole interval lies below 1, "slower" where it lies above, "undecided" where it covers 1 or
there is no interval (one round). The cost model's ratio (``semirobust.cost.training_cost``) sits beside each.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from semirobust.config import MODEL_NAMES
from semirobust.experiments.report.markup import plain_markdown
from semirobust.experiments.report.style import book_figure, book_style
from semirobust.experiments.report.verdicts import interval_status, reading
from semirobust.experiments.supplementary import efficiency
from semirobust.utils import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
RESULT_FILE = "bench_freeze_pays.json"
#: the command that writes the JSON (about 4-5 minutes on two idle cores)
COMMAND = "python benchmarks/bench_freeze_pays.py"
#: what the page says when the JSON is missing
MISSING = f"benchmarks/results/{RESULT_FILE} is missing: run `{COMMAND}` on an idle machine (about 5 minutes)."
#: a verdict per f_b size, from the claim's status (the claim: the frozen step takes less time, ratio below 1)
VERDICTS = {"confirmed": "faster", "not confirmed": "slower", "undecided": "undecided"}
#: the series of the figure: attack key -> (label, colour, marker)
SERIES = {"pgd5": ("PGD-5", "#4c72b0", "o"), "none": ("no attack", "#dd8452", "s")}
THRESHOLD_TEXT = "1, the same time"
#: a memory cell of a report measured with ``--memory analytic``
MEMORY_MISSING = "not measured"


def load_report(results_dir=None) -> dict | None:
    """The JSON the benchmark wrote, or None when absent."""
    path = Path(results_dir or RESULTS_DIR) / RESULT_FILE
    return json.loads(path.read_text()) if path.exists() else None


def attack_label(report: dict, attack: str) -> str:
    """The words of an attack key of the report ("pgd5" -> "PGD-5")."""
    return report.get("attacks", {}).get(attack, SERIES.get(attack, (attack,))[0])


def fb_verdict(low, high) -> str:
    """"faster", "slower" or "undecided" for a frozen/full ratio's interval [``low``, ``high``] (None: no interval)."""
    return VERDICTS[interval_status(low, high, 1.0, "below")]


def block(report: dict, arch: str, fb_layers: int, attack: str = "pgd5") -> dict:
    """The measured block of (network, f_b, attack); a ValueError naming the measured ones otherwise."""
    for row in report["results"]:
        if (row["arch"], row["fb_layers"], row["attack"]) == (arch, fb_layers, attack):
            return row
    measured = ", ".join(f"{r['arch']}/{r['fb_layers']}/{r['attack']}" for r in report["results"]) or "none"
    raise ValueError(f"No measured block arch={arch!r}, fb_layers={fb_layers!r}, attack={attack!r}; measured "
                     f"(arch/f_b/attack): {measured}.")


#: the smallest RSS growth (MB) read as a measurement: below it the step fit in memory the process had already
#: touched (a growth of 0 is the allocator's reuse, not a step that needs no memory), so no ratio is formed
MEMORY_RESOLUTION_MB = 1.0


def _memory_ratio(row: dict) -> float | None:
    memory = row.get("memory") or {}
    full, frozen = memory.get("full_mb"), memory.get("frozen_mb")
    if full is None or frozen is None or min(full, frozen) < MEMORY_RESOLUTION_MB:
        return None
    return frozen / full


def freeze_rows(report: dict) -> list[dict]:
    """One flat row per (network, f_b, attack): the ratio, its interval and verdict, the cost model, memory."""
    rows = []
    for row in report["results"]:
        layers = report["networks"][row["arch"]]["layers"]
        memory = row.get("memory") or {}
        rows.append({"arch": row["arch"], "fb_layers": row["fb_layers"], "fb_share": row["fb_layers"] / layers,
                     "attack": row["attack"], "ratio": row["ratio_mean"], "low": row["ratio_low"],
                     "high": row["ratio_high"], "verdict": fb_verdict(row["ratio_low"], row["ratio_high"]),
                     "cost_model": row["cost_model_ratio"], "rounds": len(row["ratios"]),
                     "full_mb": memory.get("full_mb"), "frozen_mb": memory.get("frozen_mb"),
                     "memory_ratio": _memory_ratio(row), "saved_state_mb": row["saved_state_mb"]})
    return rows


def fb_verdicts(report: dict, attack: str = "pgd5") -> dict[tuple[str, int], str]:
    """The verdict of every measured (network, f_b) under ``attack``."""
    return {(r["arch"], r["fb_layers"]): r["verdict"] for r in freeze_rows(report) if r["attack"] == attack}


def _interval_text(low, high) -> str:
    return "no interval" if low is None else f"{low:.3f} to {high:.3f}"


#: the page's table: column -> header
TABLE_HEADERS = {"model": "model", "fb_layers": "f_b layers", "fb_share": "f_b share of layers", "attack": "attack",
                 "ratio": "time frozen/full", "interval": "95% interval", "verdict": "frozen step",
                 "cost_model": "cost model frozen/full", "full_mb": "peak memory full (MB)",
                 "frozen_mb": "peak memory frozen (MB)", "saved_state_mb": "f_a gradients + momentum (MB)"}


def freeze_table(report: dict) -> pd.DataFrame:
    """The page's table: per network, attack and f_b size the measured frozen/full step-time ratio (mean over the
    rounds) with its 95% interval and verdict, the cost model's ratio, the peak memory of each step and what
    freezing saves analytically (f_a's weight gradients and SGD momentum)."""
    rows = []
    for r in freeze_rows(report):
        rows.append({**r, "model": MODEL_NAMES.get(r["arch"], r["arch"]), "attack": attack_label(report, r["attack"]),
                     "interval": _interval_text(r["low"], r["high"])})
    frame = pd.DataFrame(rows, columns=[*TABLE_HEADERS, "arch"]).drop(columns="arch")
    frame = frame.round({"fb_share": 2, "ratio": 3, "cost_model": 3, "saved_state_mb": 2})
    for column in ("full_mb", "frozen_mb"):
        frame[column] = [MEMORY_MISSING if pd.isna(v) else round(float(v), 1) for v in frame[column]]
    return frame.rename(columns=TABLE_HEADERS)


def freeze_pays_fb(report: dict) -> str:
    """The f_b sizes where the frozen step is faster (the whole interval below 1), per attack and network, with
    the ratio and its interval: a short text for the page."""
    parts = []
    for attack in report.get("attacks") or SERIES:
        per_arch = []
        for arch in report["networks"]:
            rows = [r for r in freeze_rows(report) if r["arch"] == arch and r["attack"] == attack]
            if not rows:
                continue
            faster = [f"{r['fb_layers']} ({r['ratio']:.3f}, {_interval_text(r['low'], r['high'])})"
                      for r in rows if r["verdict"] == "faster"]
            name = MODEL_NAMES.get(arch, arch)
            per_arch.append(f"{name} at f_b = {', '.join(faster)}" if faster else
                            f"{name} at none of f_b = {', '.join(str(r['fb_layers']) for r in rows)}")
        if per_arch:
            label = attack_label(report, attack)
            parts.append(f"{label[0].upper()}{label[1:]}: " + "; ".join(per_arch))
    return "Frozen step faster (time ratio frozen/full, 95% interval): " + ". ".join(parts) + "."


def freeze_claim(report: dict, arch: str = "vgg16", fb_layers: int = 12, attack: str = "pgd5") -> tuple[str, str, str]:
    """The page's verdict box: (result, status, reading). The claim (Section 2.1): training the subnetwork needs
    less computation, i.e. a frozen-f_a step takes less time than a full one (ratio below 1); read on the
    interval of the per-round ratios at the paper's f_b."""
    row = block(report, arch, fb_layers, attack)
    low, high = row["ratio_low"], row["ratio_high"]
    status = interval_status(low, high, 1.0, "below")
    memory = _memory_ratio(row)
    memory_text = "" if memory is None else f"; peak memory growth {memory:.2f}x the full step's"
    result = (f"{attack_label(report, attack)} training step with f_a frozen against the whole network's, "
              f"{MODEL_NAMES.get(arch, arch)} with f_b = {fb_layers}: time ratio {row['ratio_mean']:.3f} (95% interval "
              f"{_interval_text(low, high)}, {len(row['ratios'])} rounds; cost model {row['cost_model_ratio']:.3f})"
              f"{memory_text}.")
    why = "one timing round" if low is None else ""
    return result, status, reading(status, THRESHOLD_TEXT, "below", no_interval=why)


def full_multiple(report: dict, arch: str = "vgg16") -> tuple[float, float | None]:
    """A full PGD-5 step in standard steps: measured (median full step times over every f_b block) and the cost
    model's (None when the report does not carry it)."""
    times = {attack: statistics.median(t for r in report["results"] if r["arch"] == arch and r["attack"] == attack
                                       for t in r["full_s"]) for attack in ("pgd5", "none")}
    cost = report["networks"][arch].get("full_step_cost") or {}
    model = cost["pgd5"] / cost["none"] if {"pgd5", "none"} <= set(cost) else None
    return times["pgd5"] / times["none"], model


def book_values(report: dict, arch: str = "vgg16", fb_layers: int = 12, other_fb: int = 4) -> dict:
    """The numbers the page and the theory pages quote, rounded to 3 decimals ("not measured": memory of a report
    measured with ``--memory analytic``, or no interval from one round)."""
    main, other = block(report, arch, fb_layers), block(report, arch, other_fb)
    multiple, multiple_model = full_multiple(report, arch)

    def r3(value):
        return "not measured" if value is None else round(float(value), 3)

    return {"freeze_ratio": r3(main["ratio_mean"]), "freeze_ratio_low": r3(main["ratio_low"]),
            "freeze_ratio_high": r3(main["ratio_high"]), "freeze_model_ratio": r3(main["cost_model_ratio"]),
            "freeze_ratio_other": r3(other["ratio_mean"]), "freeze_model_ratio_other": r3(other["cost_model_ratio"]),
            "freeze_memory_ratio": r3(_memory_ratio(main)), "freeze_state_saved_mb": r3(main["saved_state_mb"]),
            "full_pgd_multiple": r3(multiple), "full_pgd_multiple_model": r3(multiple_model)}


def quoted_frame(values: dict) -> pd.DataFrame:
    """The numbers the text quotes (:func:`book_values`), one row each."""
    return pd.DataFrame([{"quantity": key.replace("_", " "), "value": value} for key, value in values.items()])


def settings_text(report: dict) -> str:
    """One line naming the machine and the settings of a report."""
    machine = report["machine"]
    load = machine.get("load_average_before")
    load_text = "" if load is None else f", 1-minute load average {load:.1f} before and " \
                                        f"{machine['load_average_after']:.1f} after"
    quick = " (a --quick smoke run: not a measurement)" if report.get("quick") else ""
    return (f"{machine['cpu']} ({machine.get('logical_cpus')} logical CPUs{load_text}), torch {report['torch']}, "
            f"{report['threads']} thread(s), batch {report['batch']} of {'x'.join(map(str, report['image_shape']))} "
            f"images, {report['repeats']} round(s) of {report['steps_per_repeat']} step(s) per variant after "
            f"{report['warmup_steps']} warm-up step, memory as {report['memory_kind']} "
            f"({report['date'][:10]}){quick}")


def settings_lines(report: dict, gpu: dict | None, cpu: dict | None = None) -> list[str]:
    """The page's opening lines (Markdown): where and how the CPU step figures, the GPU figures and (``cpu``, the
    CPU report of ``benchmarks/gpu_check.py``, when given) the CPU attack costs were measured."""
    gpu_text = (plain_markdown(efficiency.settings_text(gpu)) + "." if gpu else
                "not measured yet: no `benchmarks/results/gpu_check_cuda.json` is committed (no GPU was available to "
                "the sessions that built this page).")
    lines = ["**CPU step figures** (`benchmarks/bench_freeze_pays.py`): " + plain_markdown(settings_text(report)) + ".",
             "**GPU figures** (`benchmarks/gpu_check.py`): " + gpu_text]
    if cpu is not None and "seconds_per_image" in cpu.get("attacks", {}).get("autoattack_standard", {}):
        lines.append("**CPU attack costs** (`benchmarks/gpu_check.py --device cpu`): "
                     + plain_markdown(efficiency.settings_text(cpu)) + ".")
    return lines


def profile_sentence(report: dict) -> str:
    """The page's profile stamp: no scale profile, the benchmark's machine and settings."""
    return f"no scale profile: a timing benchmark on CPU, {settings_text(report)}"


@book_style
def freeze_ratio_figure(report: dict) -> plt.Figure:
    """Per network a panel: the frozen/full step-time ratio (mean over the rounds, 95% interval as error bars)
    against the f_b size, PGD-5 and no attack as two series, the cost model's ratio as a dashed line of the
    same colour, and the line of equal time at 1."""
    archs = list(report["networks"])
    fig, axes = book_figure(len(archs), height=3.0, ncols=min(len(archs), 2), sharey=True)
    rows = freeze_rows(report)
    for ax, arch in zip(axes.flat, archs):
        sizes = report["networks"][arch]["fb_sizes"]
        shift = 0.012 * (max(sizes) - min(sizes) + 4)  # the two series side by side, so that the bars do not hide
        for k, (attack, (label, colour, marker)) in enumerate(SERIES.items()):
            mine = sorted((r for r in rows if r["arch"] == arch and r["attack"] == attack), key=lambda r: r["fb_layers"])
            if not mine:
                continue
            xs = [r["fb_layers"] for r in mine]
            errors = [0.0 if r["low"] is None else r["ratio"] - r["low"] for r in mine]
            ax.errorbar([x + (k - 0.5) * shift for x in xs], [r["ratio"] for r in mine], yerr=errors, color=colour,
                        marker=marker, ms=5, lw=0, elinewidth=1.2, capsize=3, label=f"{label}, measured")
            ax.plot(xs, [r["cost_model"] for r in mine], color=colour, ls="--", lw=1.1, label=f"{label}, cost model")
        ax.axhline(1.0, color="0.3", ls=":", lw=1.0, label="same time as the full step")
        ax.set_xticks(sizes)
        ax.set_xlabel(f"f_b size (of {report['networks'][arch]['layers']} layers)")
        ax.set_title(f"{MODEL_NAMES.get(arch, arch)}, width {report['networks'][arch]['width']:g}")
    axes[0, 0].set_ylabel("step time, frozen / full")
    for ax in list(axes.flat)[len(archs):]:
        ax.set_visible(False)
    shown = dict(zip(*reversed(axes[0, 0].get_legend_handles_labels())))  # label -> handle
    order = [f"{label}, {kind}" for label, _, _ in SERIES.values() for kind in ("measured", "cost model")]
    labels = [label for label in order if label in shown] + ["same time as the full step"]
    fig.legend([shown[label] for label in labels], labels, loc="outside lower center", ncols=3, frameon=False)
    return fig


def freeze_ratio_caption(report: dict) -> str:
    """What :func:`freeze_ratio_figure` shows, with n."""
    return (f"Time of one training step with f_a frozen over the whole network's step (below 1: freezing pays), "
            f"batch {report['batch']}, {report['threads']} thread(s): mean over {report['repeats']} interleaved "
            f"rounds with its 95% t-interval, with the PGD-5 training attack (eps 8/255) and with none; dashed: the "
            f"cost model's ratio (semirobust.cost); dotted: equal time. {report['machine']['cpu']}, "
            f"{report['date'][:10]}.")


__all__ = ["RESULTS_DIR", "RESULT_FILE", "COMMAND", "MISSING", "VERDICTS", "SERIES", "MEMORY_MISSING", "TABLE_HEADERS", "load_report",
           "attack_label", "fb_verdict", "block", "freeze_rows", "fb_verdicts", "freeze_table", "freeze_pays_fb",
           "freeze_claim", "full_multiple", "book_values", "quoted_frame", "settings_text", "settings_lines",
           "profile_sentence", "freeze_ratio_figure", "freeze_ratio_caption"]
