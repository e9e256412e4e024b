"""Throughput and peak memory of subnetwork adversarial training against two references.

Three variants, on the same data and the same freshly built model, each in its own subprocess
(so that peak-memory figures do not leak from one variant to the next):

1. ``full``:   adversarial training of the whole network (``semirobust.training.train``).
2. ``frozen``: our subnetwork adversarial training, f_a frozen by ``split_fa_fb`` (no f_a weight
               gradient, only f_b in the optimizer).
3. ``naive``:  the loop of the paper's published code: gradients for all layers, an optimizer step
               on all of them, then f_a's weights (and BatchNorm buffers) copied back after each step.

Each variant's step is ``semirobust.training.training_step`` on the batches of
``semirobust.training.TrainingBatches``, so the three differ only in what is frozen or copied back.

All three use the same PGD-10 attack (eps 8/255, step 2/255, random start). PGD needs the input
gradient through the *whole* network, so freezing f_a only removes the f_a weight-gradient work
of one backward pass in eleven: expect (2)/(1) close to 1 for a large f_b.

Throughput is images per second of the timed epochs (median; one warm-up epoch first), per second
of wall-clock time and, on CPU, per second of this process's CPU time: on a shared machine other
processes slow the wall clock down unevenly, while CPU time (one torch thread) only counts this
variant's own work, so the CPU-time ratios are the ones to quote there. Peak memory
is ``torch.cuda.max_memory_allocated`` on CUDA and, on CPU, the growth of ``ru_maxrss`` from just
before training to its end (tracemalloc does not see torch's allocations).

Usage::

    python benchmarks/bench_subnetwork_training.py --profile smoke --fb-layers 12 4 --batches 4
    python benchmarks/bench_subnetwork_training.py --profile paper --amp   # CUDA: fp32 vs amp+channels_last

Figures are printed as a table and saved to ``benchmarks/results/bench_subnetwork_training_<profile>.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from semirobust.attacks import make_attack
from semirobust.config import get_profile
from semirobust.data import load_dataset
from semirobust.models import build_model, split_fa_fb
from semirobust.training import TRAIN_ATTACK, TrainingBatches, resolve_precision, train, training_step
from semirobust.utils import atomic_write_text, resolve_device, seed_everything

VARIANTS = ("full", "frozen", "naive")
LABELS = {"full": "(1) full adversarial", "frozen": "(2) subnetwork, f_a frozen", "naive": "(3) naive copy-back"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--arch", default="vgg16", choices=("alexnet", "vgg16", "resnet50"))
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--fb-layers", type=int, nargs="+", default=[12, 4])
    parser.add_argument("--batches", type=int, default=4, help="batches per epoch (limits the work)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up epoch")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant (median reported)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--amp", action="store_true", help="CUDA only: also run amp + channels_last")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-fb", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-amp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batches < 1 or args.epochs < 1 or args.repeats < 1:
        parser.error("--batches, --epochs and --repeats must be >= 1")
    return args


# ---------------------------------------------------------------- one variant (subprocess)


def _naive_train(model, train_set, profile, fb_layers, epochs, device, amp, channels_last, seed=0):
    """The reference loop: step on all layers, then copy f_a back (no freezing)."""
    precision = resolve_precision(device, amp, channels_last)
    model.to(device)
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
    probe = split_fa_fb(model, fb_layers)  # only to name the f_a tensors
    fa_keys = list(probe.fa_state())
    probe.undo()
    state = model.state_dict()
    fa_saved = {k: state[k].detach().clone() for k in fa_keys}
    optimizer = torch.optim.SGD(model.parameters(), lr=profile.lr, momentum=profile.momentum,
                                weight_decay=profile.weight_decay)
    scaler = precision.grad_scaler()
    attack = make_attack("pgd", model, TRAIN_ATTACK["eps"], alpha=TRAIN_ATTACK["alpha"], steps=TRAIN_ATTACK["steps"],
                         random_start=TRAIN_ATTACK["random_start"])
    batches = TrainingBatches(train_set, profile.batch_size, seed)
    history = []
    for epoch in range(epochs):
        seen, t0, c0 = 0, time.perf_counter(), time.process_time()
        for x, y in batches.epoch(epoch):
            x, y = x.to(device), y.to(device)
            training_step(model, x, y, optimizer, attack=attack, precision=precision, scaler=scaler)
            with torch.no_grad():
                for k in fa_keys:
                    state[k].copy_(fa_saved[k])
            seen += y.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "time_s": elapsed, "images_per_s": seen / elapsed,
                        "cpu_s": time.process_time() - c0})
    return history


def _worker(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    profile = get_profile(args.profile)
    n = args.batches * profile.batch_size
    train_set = load_dataset(args.dataset, "train", subset=n)
    if len(train_set) < n:
        raise SystemExit(f"{args.dataset} has only {len(train_set)} training images, fewer than "
                         f"{args.batches} batches of {profile.batch_size}; lower --batches.")
    seed_everything(0)
    model = build_model(args.arch, args.dataset, width=profile.width)
    epochs = args.epochs + 1  # the first epoch is a warm-up
    amp = channels_last = bool(args.worker_amp)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.worker == "naive":
        history = _naive_train(model, train_set, profile, args.worker_fb, epochs, device, amp, channels_last)
    else:
        fb_layers = args.worker_fb if args.worker == "frozen" else None
        clock = [time.process_time()]

        def cpu_time(model, epoch):  # eval_fn runs right after each epoch: CPU time of that epoch
            clock.append(time.process_time())
            return {"cpu_s": clock[-1] - clock[-2]}

        history = train(model, train_set, profile=profile, mode="adversarial", fb_layers=fb_layers, epochs=epochs,
                        device=device, amp=amp, channels_last=channels_last, progress=False, eval_fn=cpu_time).history
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timed = history[1:]
    result = {"variant": args.worker, "fb_layers": args.worker_fb, "amp": bool(args.worker_amp),
              "images_per_s": statistics.median(h["images_per_s"] for h in timed),
              "epoch_time_s": statistics.median(h["time_s"] for h in timed),
              "images_per_cpu_s": statistics.median(n / h["cpu_s"] for h in timed),
              "images_per_epoch": n, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["memory_kind"] = "torch.cuda.max_memory_allocated"
    else:  # ru_maxrss is in KiB on Linux
        result["peak_memory_mb"] = (rss_after - rss_before) / 1024
        result["memory_kind"] = "ru_maxrss growth during training"
    return result


# ---------------------------------------------------------------- driver


def _run_variant(args, variant: str, fb: int, amp: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant, "--worker-fb", str(fb), "--profile", args.profile,
           "--arch", args.arch, "--dataset", args.dataset, "--batches", str(args.batches),
           "--epochs", str(args.epochs), "--device", args.device]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if amp:
        cmd.append("--worker-amp")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"variant {variant} (f_b={fb}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_rows(rows: list[dict]) -> dict:
    return {**rows[0], "images_per_s": statistics.median(r["images_per_s"] for r in rows),
            "epoch_time_s": statistics.median(r["epoch_time_s"] for r in rows),
            "images_per_cpu_s": statistics.median(r["images_per_cpu_s"] for r in rows),
            "peak_memory_mb": statistics.median(r["peak_memory_mb"] for r in rows), "repeats": len(rows)}


def _device_name(device: str) -> str:
    dev = resolve_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({platform.processor() or platform.machine()})"


def main(argv=None) -> dict:
    args = _parse(argv)
    if args.worker:
        print(json.dumps(_worker(args)))
        return {}
    profile = get_profile(args.profile)
    on_cuda = resolve_device(args.device).type == "cuda"
    precisions = [False, True] if args.amp and on_cuda else [False]
    notes = []
    if args.amp and not on_cuda:
        notes.append("--amp asked for but no CUDA device here: the fp32 vs amp+channels_last comparison was not run.")
    results = []
    for fb in args.fb_layers:
        for amp in precisions:
            runs = {v: [] for v in VARIANTS}
            for _ in range(args.repeats):  # interleave variants so that machine load hits them alike
                for variant in VARIANTS:
                    runs[variant].append(_run_variant(args, variant, fb, amp))
            rows = {v: _median_rows(r) for v, r in runs.items()}
            results.append({"fb_layers": fb, "amp": amp, "rows": rows, "ratios": {
                "throughput_frozen_over_full": rows["frozen"]["images_per_s"] / rows["full"]["images_per_s"],
                "throughput_frozen_over_naive": rows["frozen"]["images_per_s"] / rows["naive"]["images_per_s"],
                "cpu_throughput_frozen_over_full": rows["frozen"]["images_per_cpu_s"] / rows["full"]["images_per_cpu_s"],
                "cpu_throughput_frozen_over_naive": rows["frozen"]["images_per_cpu_s"] / rows["naive"]["images_per_cpu_s"],
                "memory_frozen_over_full": _ratio(rows["frozen"]["peak_memory_mb"], rows["full"]["peak_memory_mb"]),
                "memory_frozen_over_naive": _ratio(rows["frozen"]["peak_memory_mb"], rows["naive"]["peak_memory_mb"]),
            }})
    report = {"benchmark": "bench_subnetwork_training", "created_at": datetime.now(UTC).isoformat(),
              "profile": args.profile, "arch": args.arch, "dataset": args.dataset, "width": profile.width,
              "batch_size": profile.batch_size, "batches_per_epoch": args.batches, "timed_epochs": args.epochs,
              "repeats": args.repeats, "device": _device_name(args.device), "torch": torch.__version__,
              "threads": results[0]["rows"]["full"]["threads"], "train_attack": "PGD-10, eps 8/255, step 2/255",
              "results": results, "notes": notes}
    print(format_table(report))
    out = args.out or RESULTS_DIR / f"bench_subnetwork_training_{args.profile}.json"
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")
    return report


def _ratio(a: float, b: float):
    return a / b if b > 0 else None


def format_table(report: dict) -> str:
    """The benchmark's figures as a plain-text table."""
    lines = [f"{report['arch']} (width {report['width']}) on {report['dataset']}, profile {report['profile']}, "
             f"batch {report['batch_size']} x {report['batches_per_epoch']} batches, {report['timed_epochs']} timed "
             f"epoch(s) after a warm-up, median of {report['repeats']} run(s); {report['device']}, "
             f"{report['threads']} thread(s), torch {report['torch']}; adversarial training {report['train_attack']}",
             f"{'f_b':>4} {'precision':<10} {'variant':<28} {'img/s':>7} {'img/CPU-s':>9} {'epoch s':>8} {'peak MB':>8}"]
    for block in report["results"]:
        precision = "amp+cl" if block["amp"] else "fp32"
        for variant, row in block["rows"].items():
            lines.append(f"{block['fb_layers']:>4} {precision:<10} {LABELS[variant]:<28} {row['images_per_s']:>7.1f} "
                         f"{row['images_per_cpu_s']:>9.1f} "
                         f"{row['epoch_time_s']:>8.2f} {row['peak_memory_mb']:>8.1f}")
        r = block["ratios"]
        mem = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"{'':>4} {'':<10} throughput (2)/(1) = {r['throughput_frozen_over_full']:.2f} wall, "
                     f"{r['cpu_throughput_frozen_over_full']:.2f} CPU; (2)/(3) = {r['throughput_frozen_over_naive']:.2f} "
                     f"wall, {r['cpu_throughput_frozen_over_naive']:.2f} CPU")
        lines.append(f"{'':>4} {'':<10} peak memory (2)/(1) = "
                     f"{mem(r['memory_frozen_over_full'])}, (2)/(3) = {mem(r['memory_frozen_over_naive'])}")
    lines += report["notes"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
