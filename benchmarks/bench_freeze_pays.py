"""Where does freezing f_a pay? One training step of the frozen-f_a network against the full network's step.

For VGG16 (width 0.125) and ResNet50 (width 0.0625) at several f_b sizes, with the PGD-5 training attack (eps 8/255,
step 2.5 eps / 5, random start: ``semirobust.training_methods.train_attack(8/255, 5)``) and with no attack (a
standard step), on a fixed batch of 64 random 3x32x32 images in [0, 1]:

* ``full``:   ``semirobust.training.training_step`` with SGD over every parameter;
* ``frozen``: the same step on a copy of the network with f_a frozen by ``semirobust.models.split_fa_fb``, SGD over
  ``split.fb_parameters()`` (``split.undo()`` once the f_b size is done).

Per (network, f_b, attack): one warm-up step of each, then ``repeats`` rounds of ``full`` then ``frozen`` (so machine
load hits both alike), each round timing ``steps`` steps (wall clock, process CPU time beside); the per-round
frozen/full ratios, their mean and 95% t-interval (``semirobust.inference.mean_and_half``), and the cost model's
ratio (``semirobust.cost.training_cost``, "adversarial" at 5 attack steps or "standard"). Peak memory: each
variant runs a few steps in its own subprocess, which reports its ``ru_maxrss`` growth from just before the first
step (``--memory subprocess``); beside it, the bytes freezing saves analytically (f_a's weight gradients and SGD
momentum, float32). ``--memory analytic`` skips the subprocesses. Timings are evidence, never a test:
tests/test_freeze_pays.py runs ``--quick`` and asserts nothing about them.

Run it on an otherwise idle machine: two torch threads that other processes keep descheduling wait on each other at
every operation (a PGD-5 step of VGG16 at batch 4 took 5 s instead of 0.03 s beside two busy processes), so the
JSON records the 1-minute load average before and after.

Usage::

    python benchmarks/bench_freeze_pays.py          # the full size: about 5 minutes on 2 idle cores
    python benchmarks/bench_freeze_pays.py --quick --memory analytic --out /tmp/q.json   # a smoke run, seconds

``--quick``: one f_b size per network, one round of one step, batch 4, one thread (with the memory subprocesses,
eight of them, about half a minute).

Saves ``benchmarks/results/bench_freeze_pays.json`` (the efficiency page reads it).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from semirobust.attacks import make_attack
from semirobust.config import get_profile
from semirobust.cost import training_cost
from semirobust.inference import mean_and_half
from semirobust.models import build_model, split_fa_fb, trainable_layers
from semirobust.training import training_step
from semirobust.training_methods import train_attack
from semirobust.utils import atomic_write_text, cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
DATASET = "fashion-mnist"
#: network -> (width, f_b sizes of the full run, f_b size of --quick)
NETWORKS = {"vgg16": (0.125, (1, 4, 8, 12, 16), 12), "resnet50": (0.0625, (4, 8, 16, 32, 54), 16)}
#: the two steps compared: the training attack's PGD steps (0: a standard step, no attack)
ATTACKS = {"pgd5": 5, "none": 0}
ATTACK_LABELS = {"pgd5": "PGD-5", "none": "no attack"}
EPS = 8 / 255
IMAGE = (3, 32, 32)
SEED = 0


def _parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (full, frozen) per f_b size")
    parser.add_argument("--steps", type=int, default=2, help="training steps timed per variant and round")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2; --quick: 1)")
    parser.add_argument("--memory", choices=("subprocess", "analytic"), default="subprocess")
    parser.add_argument("--quick", action="store_true",
                        help="one f_b size per network, 1 repeat, 1 step, batch 4, 1 thread (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_freeze_pays.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # "arch:fb:attack" (fb 0: the full network)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.batch = 1, 1, 4
    if args.threads is None:
        args.threads = 1 if args.quick else 2
    if min(args.repeats, args.steps, args.batch, args.threads) < 1:
        parser.error("--repeats, --steps, --batch and --threads must be >= 1")
    return args




def _network(arch: str) -> torch.nn.Module:
    torch.manual_seed(SEED)
    return build_model(arch, DATASET, NETWORKS[arch][0])


def _batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(SEED)
    return torch.rand((size, *IMAGE), generator=generator), torch.randint(0, 10, (size,), generator=generator)


def _optimizer(params) -> torch.optim.SGD:
    profile = get_profile("offline")  # the offline profile's SGD settings (the time does not depend on them)
    return torch.optim.SGD(params, lr=profile.trial_lr, momentum=profile.momentum, weight_decay=profile.weight_decay)


def _stepper(model, params, attack_steps: int):
    """A function running one training step of ``model`` (``params`` in the optimizer) with the attack."""
    attack = None
    if attack_steps:
        spec = train_attack(EPS, attack_steps)
        attack = make_attack("pgd", model, spec["eps"], alpha=spec["alpha"], steps=spec["steps"],
                             random_start=spec["random_start"])
    optimizer = _optimizer(params)
    return lambda x, y: training_step(model, x, y, optimizer, attack=attack)


def _timed(step, x, y, steps: int) -> tuple[float, float]:
    """Wall-clock and process CPU seconds per step over ``steps`` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step(x, y)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def step_cost(model, attack: str, fb: int | None) -> float:
    """The cost model's step per image in full-network gradient evaluations (``semirobust.cost.training_cost``:
    "adversarial" at the attack's PGD steps, "standard" without an attack); ``fb`` None: the full network."""
    mode = "adversarial" if ATTACKS[attack] else "standard"
    return training_cost(model, mode, fb, 1, ATTACKS[attack])


def cost_ratio(model, attack: str, fb: int) -> float:
    """The cost model's frozen/full ratio of one step."""
    return step_cost(model, attack, fb) / step_cost(model, attack, None)


def _fa_params(model, fb: int) -> int:
    split = split_fa_fb(model, fb)
    try:
        return sum(p.numel() for p in split.fa_parameters())
    finally:
        split.undo()


def time_block(arch: str, fb: int, attack: str, args) -> dict:
    """Interleaved timings of the full and the frozen step at one (network, f_b, attack)."""
    full_model = _network(arch)
    frozen_model = copy.deepcopy(full_model)
    x, y = _batch(args.batch)
    full = _stepper(full_model, list(full_model.parameters()), ATTACKS[attack])
    split = split_fa_fb(frozen_model, fb)
    try:
        frozen = _stepper(frozen_model, split.fb_parameters(), ATTACKS[attack])
        full(x, y), frozen(x, y)  # warm-up: oneDNN's primitive cache, the allocator, SGD's momentum buffers
        times = {"full": [], "frozen": [], "full_cpu": [], "frozen_cpu": []}
        for _ in range(args.repeats):
            for name, step in (("full", full), ("frozen", frozen)):
                wall, cpu = _timed(step, x, y, args.steps)
                times[name].append(wall)
                times[f"{name}_cpu"].append(cpu)
    finally:
        split.undo()
    ratios = [b / a for a, b in zip(times["full"], times["frozen"])]
    cpu_ratios = [b / a for a, b in zip(times["full_cpu"], times["frozen_cpu"])]
    mean, half = mean_and_half(ratios)
    fa_params = _fa_params(full_model, fb)
    return {"arch": arch, "fb_layers": fb, "attack": attack, "attack_steps": ATTACKS[attack],
            "full_s": times["full"], "frozen_s": times["frozen"], "full_cpu_s": times["full_cpu"],
            "frozen_cpu_s": times["frozen_cpu"], "ratios": ratios, "ratio_mean": mean, "ratio_half": half,
            "ratio_low": None if half is None else mean - half, "ratio_high": None if half is None else mean + half,
            "cpu_ratio_mean": mean_and_half(cpu_ratios)[0], "cost_model_ratio": cost_ratio(full_model, attack, fb),
            "fa_params": fa_params, "saved_state_mb": 2 * 4 * fa_params / 2**20}


# ---------------------------------------------------------------- peak memory, one variant per subprocess


def _worker(spec: str, args) -> dict:
    """Peak RSS growth of ``spec`` = "arch:fb:attack" (fb 0: the full network) over two steps from a fresh process."""
    arch, fb, attack = spec.split(":")
    fb = int(fb)
    torch.set_num_threads(args.threads)
    model = _network(arch)
    x, y = _batch(args.batch)
    split = split_fa_fb(model, fb) if fb else None
    step = _stepper(model, split.fb_parameters() if split else list(model.parameters()), ATTACKS[attack])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(2):  # the first allocates gradients and SGD's momentum, the second runs on them
        step(x, y)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_growth_mb": (after - before) / 1024}  # ru_maxrss is in KiB on Linux


def measure_memory(arch: str, fb: int, attack: str, args) -> float:
    """:func:`_worker` of one variant in its own process; the megabytes of its RSS growth."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", f"{arch}:{fb}:{attack}",
           "--batch", str(args.batch), "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"memory worker {arch} f_b={fb or 'full'} {attack} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_growth_mb"]


# ---------------------------------------------------------------- driver


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    networks, results = {}, []
    for arch in args.archs:
        width, sizes, quick_size = NETWORKS[arch]
        sizes = (quick_size,) if args.quick else sizes
        model = _network(arch)
        networks[arch] = {"width": width, "layers": len(trainable_layers(model)), "fb_sizes": list(sizes),
                          "params": sum(p.numel() for p in model.parameters()),
                          "full_step_cost": {attack: step_cost(model, attack, None) for attack in ATTACKS}}
        for attack in ATTACKS:
            full_memory = measure_memory(arch, 0, attack, args) if args.memory == "subprocess" else None
            for fb in sizes:
                block = time_block(arch, fb, attack, args)
                frozen_memory = measure_memory(arch, fb, attack, args) if args.memory == "subprocess" else None
                block["memory"] = {"full_mb": full_memory, "frozen_mb": frozen_memory}
                results.append(block)
                low = "" if block["ratio_low"] is None else f" [{block['ratio_low']:.3f}, {block['ratio_high']:.3f}]"
                print(f"{arch:9s} f_b={fb:3d} {ATTACK_LABELS[attack]:9s} full {_median(block['full_s']):.3f} s  "
                      f"frozen {_median(block['frozen_s']):.3f} s  frozen/full {block['ratio_mean']:.3f}{low}  "
                      f"model {block['cost_model_ratio']:.3f}", flush=True)
    spec = train_attack(EPS, ATTACKS["pgd5"])
    return {"benchmark": "bench_freeze_pays", "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpu": cpu_name(), "arch": platform.machine(), "logical_cpus": os.cpu_count(),
                        "load_average_before": load_before[0], "load_average_after": os.getloadavg()[0]},
            "torch": torch.__version__, "threads": torch.get_num_threads(), "repeats": args.repeats,
            "steps_per_repeat": args.steps, "warmup_steps": 1, "batch": args.batch, "image_shape": list(IMAGE),
            "dataset": DATASET, "quick": args.quick, "networks": networks,
            "attacks": {name: ATTACK_LABELS[name] for name in ATTACKS}, "train_attack": spec,
            "timing": "wall clock per step (time.perf_counter), full and frozen interleaved per round; ratio = "
                      "frozen / full per round, mean with a 95% t-interval over the rounds; process CPU time beside",
            "memory_kind": ("peak RSS (ru_maxrss) growth over two steps, each variant in its own subprocess"
                            if args.memory == "subprocess" else "not measured (--memory analytic)"),
            "saved_state_kind": "analytic: f_a's weight gradients + SGD momentum, float32 (2 x 4 bytes per parameter)",
            "results": results}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main(argv=None) -> dict:
    args = _parse(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args)))
        return {}
    report = run(args)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(f"saved {args.out}")
    return report


if __name__ == "__main__":
    main()
