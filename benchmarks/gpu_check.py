"""Check and time the paper-profile training path (PGD-10 adversarial training steps) on one device.

Synthetic tensors of the real shapes (no data set can be downloaded on the project's machines):
CIFAR-10/100 (3x32x32, batch 512) and Imagenette (3x224x224, batch 64), VGG16 and ResNet50 at
width 1.0 (AlexNet with ``--alexnet``). For each case it times one training step of

* ``plain``:   standard training (no attack), the unit of the "multiple of a plain step";
* ``full``:    PGD-10 adversarial training of the whole network;
* ``frozen``:  ours, f_a frozen by ``split_fa_fb`` (f_b = the paper's size; also 4 and 12 for VGG16);
* ``authors``: the authors' loop: gradients and an SGD step for every layer, f_a's BatchNorm in
               train mode, f_a's weights and buffers copied back after each step;

in fp32 and in bf16 autocast + channels_last (the CUDA default of ``semirobust.training``), and with
``torch.compile`` when ``--compile`` is given. Every variant's step is ``semirobust.training.training_step``,
the step ``train`` runs (PGD in eval mode under autocast, then a train-mode update). Correctness runs through
``semirobust.training.train`` itself (CUDA defaults: bf16 + channels_last): after 20 frozen steps
every f_a tensor (parameters and buffers) must be bit-identical and the loss must fall; a failure
makes the script exit with status 1. It also times the standard AutoAttack (pyautoattack) and
APGD-CE alone on 256 images, and ``edge_mi`` at N = 10,000, d = 16,384 on the device and on the CPU.

Time: wall clock on CUDA; on CPU this process's CPU time per step (use ``--threads 1``), so that
other processes on a shared machine do not distort the ratios (the wall time is kept as well).

Memory: on CUDA ``torch.cuda.max_memory_allocated`` over the timed steps (model, gradients,
optimizer state, activations, batch). On CPU the growth of the resident set size over the same
content (RSS sampled every 1 ms by a thread during one extra step, relative to the RSS before the
model was built; glibc's mmap threshold is fixed at 64 KiB so freed tensors leave the RSS).

    python benchmarks/gpu_check.py --device cuda                        # < 8 minutes on one GPU
    python benchmarks/gpu_check.py --device cpu --width 0.25 --batch 64 --steps 3 --shapes cifar10
    python benchmarks/gpu_check.py --device cpu --tiny                  # seconds, run by the tests

Targets (frozen never slower than full or authors at f_b = 12 and 4, lower peak memory; bf16 +
channels_last at least 2x fp32) are recorded in the JSON as measured / target / met, not asserted.
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import dataclasses
import gc
import inspect
import json
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from semirobust.attacks import make_attack
from semirobust.config import PAPER_FB_LAYERS, get_profile
from semirobust.data import TensorImageDataset
from semirobust.experiments.supplementary.efficiency import PGD_STEPS, analytic_costs
from semirobust.mi import edge_mi
from semirobust.models import build_model, split_fa_fb
from semirobust.training import TRAIN_ATTACK, resolve_precision, train, training_step
from semirobust.utils import atomic_write_text, seed_everything

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: name -> (dataset whose metadata the model is built for, image side, batch, classes)
SHAPES = {"cifar10": ("cifar10", 32, 512, 10), "cifar100": ("cifar100", 32, 512, 100),
          "imagenette": ("imagenette", 224, 64, 10)}
PRECISIONS = ("fp32", "bf16+cl")
TINY = {"width": 0.0625, "batch": 4, "steps": 1, "warmup": 1, "shapes": ["cifar10"], "archs": ["vgg16"],
        "aa_images": 4, "mi": (200, 64), "threads": 1,
        # the freeze check also runs on ResNet50: many f_a BatchNorm buffers that a train-mode pass would move
        "correctness_archs": ["vgg16", "resnet50"]}
CORRECTNESS_STEPS = 20


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--tiny", action="store_true", help="tiny shapes and width: seconds on a CPU (the test)")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=None, help="batch size of every shape (default: the real ones)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per measurement (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs of every variant (median reported)")
    p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--archs", nargs="+", default=["vgg16", "resnet50"], choices=("alexnet", "vgg16", "resnet50"))
    p.add_argument("--precisions", nargs="+", default=None, choices=PRECISIONS,
                   help="default: both on CUDA, fp32 on CPU (bf16 on CPU is emulated and slow)")
    p.add_argument("--compile", action="store_true", help="also time full/frozen with torch.compile (first shape)")
    p.add_argument("--aa-images", type=int, default=256)
    p.add_argument("--mi", type=int, nargs=2, default=(10_000, 16_384), metavar=("N", "D"))
    p.add_argument("--skip-mi", action="store_true")
    p.add_argument("--budget-s", type=float, default=360.0,
                   help="skip the remaining timings (and AutoAttack, EDGE) past this many seconds")
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 on a shared CPU: CPU-time figures)")
    p.add_argument("--break-freeze", action="store_true", help=argparse.SUPPRESS)  # test: must be detected
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.tiny:
        args.width, args.batch, args.steps, args.warmup = TINY["width"], TINY["batch"], TINY["steps"], TINY["warmup"]
        args.shapes, args.archs, args.aa_images, args.mi = TINY["shapes"], TINY["archs"], TINY["aa_images"], TINY["mi"]
        args.threads = args.threads or TINY["threads"]
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available here; use --device cpu")
    if args.precisions is None:
        args.precisions = list(PRECISIONS) if args.device == "cuda" else ["fp32"]
    return args


# ---------------------------------------------------------------- memory


def _fix_malloc() -> None:
    """glibc: fixed 64 KiB mmap threshold, so tensors are mmapped and freed memory leaves the RSS."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class RssPeak:
    """Peak RSS while the block runs, sampled every millisecond by a thread."""

    def __enter__(self):
        self.peak, self._stop = _rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


# ---------------------------------------------------------------- data and steps


def synthetic_batch(image: int, batch: int, classes: int, device, seed: int = 0):
    """Learnable synthetic images: per-class patterns plus noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(classes, 3, image, image, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    x = (0.8 * patterns[y] + 0.2 * torch.rand(batch, 3, image, image, generator=g)).clamp(0, 1)
    return x.to(device), y.to(device)


class Stepper:
    """One training step of a variant, exactly as ``semirobust.training.train`` runs it."""

    def __init__(self, model, variant: str, fb_layers, precision: str, device, lr: float, compile_model=False):
        self.model, self.variant, self.device = model, variant, device
        self.precision = resolve_precision(device, precision != "fp32", precision != "fp32")
        model.to(device)
        if self.precision.channels_last:
            model.to(memory_format=torch.channels_last)
        self.split = split_fa_fb(model, fb_layers) if variant == "frozen" else None
        self.fa_keys = []
        if variant == "authors":  # only to name the f_a tensors; the model is not frozen
            probe = split_fa_fb(model, fb_layers)
            self.fa_keys = list(probe.fa_state())
            probe.undo()
            state = model.state_dict()
            self.state, self.fa_saved = state, {k: state[k].detach().clone() for k in self.fa_keys}
        params = self.split.fb_parameters() if self.split else list(model.parameters())
        profile = get_profile("paper")
        self.optimizer = torch.optim.SGD(params, lr=lr, momentum=profile.momentum, weight_decay=profile.weight_decay)
        self.scaler = self.precision.grad_scaler()
        self.net = torch.compile(model) if compile_model else model
        self.attack = None
        if variant != "plain":
            self.attack = make_attack("pgd", self.net, TRAIN_ATTACK["eps"], alpha=TRAIN_ATTACK["alpha"],
                                      steps=TRAIN_ATTACK["steps"], random_start=TRAIN_ATTACK["random_start"])

    def __call__(self, x, y) -> float:
        loss, _ = training_step(self.net, x, y, self.optimizer, attack=self.attack, precision=self.precision,
                                scaler=self.scaler)
        if self.fa_keys:
            with torch.no_grad():
                for k in self.fa_keys:
                    self.state[k].copy_(self.fa_saved[k])
        return loss.item()

    def close(self):
        if self.split is not None:
            self.split.undo()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(base_model, variant, fb_layers, precision, batch, device, args, compile_model=False) -> dict:
    """Median step time, images/s and peak memory of one variant on a fresh copy of ``base_model``."""
    _release()
    rss0 = _rss_bytes()
    model = copy.deepcopy(base_model)
    x, y = batch
    stepper = Stepper(model, variant, fb_layers, precision, device, lr=get_profile("paper").lr,
                      compile_model=compile_model)
    t_start = time.perf_counter()
    try:
        for _ in range(args.warmup):
            stepper(x, y)
        first_s = time.perf_counter() - t_start
        _sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times, cpu_times = [], []
        for _ in range(args.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            stepper(x, y)
            _sync(device)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
        if device.type == "cuda":
            memory, kind = torch.cuda.max_memory_allocated(device) / 2**20, "torch.cuda.max_memory_allocated"
        else:
            with RssPeak() as rss:
                stepper(x, y)
            memory, kind = (rss.peak - rss0) / 2**20, "RSS growth from before the model was built (1 ms samples)"
    finally:
        stepper.close()
    # On a shared CPU other processes stretch the wall clock unevenly; this process's CPU time (one
    # torch thread) counts only its own work, so CPU ratios and multiples are taken from it.
    step_s = statistics.median(cpu_times if device.type == "cpu" else times)
    row = {"variant": variant, "fb_layers": fb_layers, "precision": precision, "compiled": compile_model,
           "step_s": step_s, "step_basis": "process CPU time" if device.type == "cpu" else "wall clock",
           "wall_step_s": statistics.median(times), "images_per_s": x.shape[0] / step_s,
           "memory_mb": memory, "memory_kind": kind,
           "warmup_s": first_s, "timed_steps": len(times)}
    del stepper, model
    return row


# ---------------------------------------------------------------- correctness through training.train


def correctness(arch: str, shape: str, device, args) -> dict:
    """20 frozen steps through ``semirobust.training.train``: f_a bit-identical, the loss falls."""
    dataset, image, batch, classes = SHAPES[shape]
    batch = args.batch or batch
    steps = CORRECTNESS_STEPS
    fb = PAPER_FB_LAYERS[arch]
    seed_everything(0)
    model = build_model(arch, dataset, width=args.width, num_classes=classes)
    # a few fixed batches, revisited each epoch: the loss must fall on data it has seen
    n_batches = 2
    xs, ys = zip(*(synthetic_batch(image, batch, classes, "cpu", seed=s) for s in range(n_batches)))
    train_set = TensorImageDataset(torch.cat(xs), torch.cat(ys))
    profile = dataclasses.replace(get_profile("paper"), batch_size=batch, augment=False, lr=0.05)
    probe = split_fa_fb(model, fb)
    before = {k: v.detach().clone() for k, v in probe.fa_state().items()}
    probe.undo()
    epochs = steps // n_batches
    t0 = time.perf_counter()
    eval_fn = None
    if args.break_freeze:  # deliberately move one f_a tensor: the check below must catch it
        def eval_fn(m, epoch):
            with torch.no_grad():
                _first_fa_param(m, fb).add_(1e-3)
            return {}
    history = train(model, train_set, profile=profile, mode="adversarial", fb_layers=fb, epochs=epochs,
                    device=device, seed=0, progress=False, eval_fn=eval_fn).history
    elapsed = time.perf_counter() - t0
    probe = split_fa_fb(model, fb)
    after = probe.fa_state()
    probe.undo()
    changed = [k for k in before if not torch.equal(before[k], after[k].detach().cpu())]
    losses = [h["train_loss"] for h in history]
    precision = resolve_precision(device)
    return {"arch": arch, "shape": shape, "fb_layers": fb, "steps": epochs * n_batches, "epochs": epochs,
            "amp": str(precision.amp_dtype) if precision.amp_dtype else None,
            "channels_last": precision.channels_last, "fa_tensors": len(before),
            "fa_tensors_changed": changed, "fa_bit_identical": not changed, "epoch_losses": losses,
            "loss_falls": losses[-1] < losses[0], "time_s": elapsed,
            "passed": (not changed) and losses[-1] < losses[0]}


def _first_fa_param(model, fb):
    split = split_fa_fb(model, fb)
    try:
        return split.fa_parameters()[0]
    finally:
        split.undo()


# ---------------------------------------------------------------- AutoAttack and EDGE


def attack_costs(arch: str, device, args) -> dict:
    """Seconds per image of the standard AutoAttack (pyautoattack) and of APGD-CE alone, same model and images."""
    dataset, image, _, classes = SHAPES["cifar10"]
    seed_everything(0)
    model = build_model(arch, dataset, width=args.width, num_classes=classes).to(device).eval()
    x, y = synthetic_batch(image, args.aa_images, classes, device, seed=1)
    out = {"arch": arch, "shape": "cifar10", "images": args.aa_images, "eps": 8 / 255}
    runs = [("apgd_ce", _apgd_ce_only(model, device))]
    if args.tiny:  # Square's 5000 queries alone take tens of seconds on a CPU
        out["autoattack_standard"] = {"skipped": "--tiny"}
    else:
        runs.insert(0, ("autoattack_standard", make_attack("autoattack", model, 8 / 255)))
    with torch.no_grad():
        out["clean_accuracy"] = (model(x).argmax(1) == y).float().mean().item()
    out["note"] = ("an untrained network: only the clean-correct images are attacked, and APGD-CE breaks nearly "
                   "all of them, so the later attacks of the standard AutoAttack run on few or no images; on a "
                   "robust network their cost adds up")
    for name, attack in runs:
        print(f"  {name} on {args.aa_images} images", flush=True)
        _sync(device)
        t0 = time.perf_counter()
        attack(x, y)
        _sync(device)
        s = time.perf_counter() - t0
        out[name] = {"seconds": s, "seconds_per_image": s / args.aa_images}
    if "seconds" in out["autoattack_standard"]:
        out["autoattack_over_apgd_ce"] = out["autoattack_standard"]["seconds"] / out["apgd_ce"]["seconds"]
    return out


def _apgd_ce_only(model, device):
    """pyautoattack's AutoAttack restricted to APGD-CE (its first attack), model in eval mode, no weight grads."""
    import pyautoattack

    runner = pyautoattack.AutoAttack(model, eps=8 / 255, norm="Linf", version="custom", attacks=["apgd-ce"],
                                     seed=0, device=device)
    runner.verbose = False
    for p in model.parameters():
        p.requires_grad_(False)

    def run(x, y):
        with torch.enable_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return runner.run_standard_evaluation(x, y, batch_size=x.shape[0])
    return run


def mi_costs(device, args) -> dict:
    """``edge_mi`` at N x d on ``device`` against the CPU (same inputs, same seed)."""
    n, d = args.mi
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 16, generator=g)
    x = z @ torch.randn(16, d, generator=g)
    y = (z + 0.5 * torch.randn(n, 16, generator=g)) @ torch.randn(16, d, generator=g)
    kwargs = {"preset": "authors"} if "preset" in inspect.signature(edge_mi).parameters else {}
    out = {"n": n, "d": d, "preset": kwargs.get("preset", "library defaults (edge_mi has no preset argument)")}
    for where in dict.fromkeys([device.type, "cpu"]):
        dev = torch.device(where) if where == "cpu" else device
        xs, ys = x.to(dev), y.to(dev)
        _sync(dev)
        t0 = time.perf_counter()
        value = edge_mi(xs, ys, **kwargs)
        _sync(dev)
        out[where] = {"seconds": time.perf_counter() - t0, "mi_bits": float(value)}
        del xs, ys
    if "cuda" in out:
        out["cpu_over_cuda"] = out["cpu"]["seconds"] / out["cuda"]["seconds"]
    return out


# ---------------------------------------------------------------- driver


def _median_row(rows: list[dict]) -> dict:
    """Median step time and memory over the interleaved repeats of one variant (skipped when all were)."""
    done = [r for r in rows if not r.get("skipped")]
    if not done:
        return rows[0]
    step_s = statistics.median(r["step_s"] for r in done)
    return {**done[0], "step_s": step_s, "images_per_s": done[0]["images_per_s"] * done[0]["step_s"] / step_s,
            "wall_step_s": statistics.median(r["wall_step_s"] for r in done),
            "memory_mb": statistics.median(r["memory_mb"] for r in done), "repeats": len(done),
            "step_s_all": [r["step_s"] for r in done]}


def _variants(arch: str) -> list[tuple[str, int | None]]:
    fbs = sorted({PAPER_FB_LAYERS[arch], *((4, 12) if arch == "vgg16" else ())})
    rows = [("plain", None), ("full", None)]
    rows += [(v, fb) for fb in fbs for v in ("frozen", "authors")]
    return rows


def _ratios(measurements: list[dict]) -> list[dict]:
    by = {(m["variant"], m["fb_layers"], m["precision"], m["compiled"]): m for m in measurements if not m.get("skipped")}
    out = []
    for (variant, fb, prec, comp), m in by.items():
        if variant != "frozen" or comp:
            continue
        full, authors = by.get(("full", None, prec, False)), by.get(("authors", fb, prec, False))
        row = {"fb_layers": fb, "precision": prec}
        if full:
            row["throughput_frozen_over_full"] = m["images_per_s"] / full["images_per_s"]
            row["memory_frozen_over_full"] = m["memory_mb"] / full["memory_mb"] if full["memory_mb"] > 0 else None
        if authors:
            row["throughput_frozen_over_authors"] = m["images_per_s"] / authors["images_per_s"]
            row["memory_frozen_over_authors"] = (m["memory_mb"] / authors["memory_mb"]
                                                 if authors["memory_mb"] > 0 else None)
        fp32 = by.get(("frozen", fb, "fp32", False))
        if prec != "fp32" and fp32:
            row["throughput_over_fp32"] = m["images_per_s"] / fp32["images_per_s"]
        out.append(row)
    return out


def _target(measured, target, met):
    return {"measured": measured, "target": target, "met": bool(met) if measured is not None else None}


def targets(cases: list[dict]) -> dict:
    """One entry per target of issue 15 (VGG16 at f_b = 12 and 4; bf16 + channels_last vs fp32)."""
    out = {}
    for case in cases:
        for r in case["ratios"]:
            key = f"{case['shape']}/{case['arch']}/fb{r['fb_layers']}/{r['precision']}"
            if case["arch"] == "vgg16" and r["fb_layers"] in (4, 12) or r["fb_layers"] == PAPER_FB_LAYERS[case["arch"]]:
                for name in ("throughput_frozen_over_full", "throughput_frozen_over_authors"):
                    if name in r:
                        out[f"{key}/{name}"] = _target(r[name], ">= 1.0", r[name] >= 1.0)
                for name in ("memory_frozen_over_full", "memory_frozen_over_authors"):
                    if r.get(name) is not None:
                        out[f"{key}/{name}"] = _target(r[name], "< 1.0", r[name] < 1.0)
            if "throughput_over_fp32" in r:
                out[f"{key}/bf16_cl_over_fp32"] = _target(r["throughput_over_fp32"], ">= 2.0",
                                                          r["throughput_over_fp32"] >= 2.0)
    return out


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run(args) -> dict:
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        _fix_malloc()
    t_begin = time.perf_counter()
    over = lambda: time.perf_counter() - t_begin > args.budget_s  # noqa: E731
    report = {"benchmark": "gpu_check", "created_at": datetime.now(UTC).isoformat(),
              "device": _device_name(device), "device_type": device.type, "torch": torch.__version__,
              "argv": sys.argv[1:], "tiny": args.tiny, "width": args.width, "timed_steps": args.steps,
              "warmup_steps": args.warmup, "train_attack": "PGD-10, eps 8/255, step 2/255, random start",
              "synthetic_data": True, "cases": [], "notes": []}
    if device.type == "cpu":
        report["notes"].append("CPU: memory is RSS growth (the model, gradients, optimizer state and activations), "
                               "not an allocator count; fp32 only unless --precisions asks for bf16.")

    print("correctness: 20 frozen steps through semirobust.training.train", flush=True)
    checked = TINY["correctness_archs"] if args.tiny else args.archs  # every network timed is checked first
    report["correctness"] = [correctness(arch, args.shapes[0], device, args) for arch in checked]
    for c in report["correctness"]:
        print(f"  {c['arch']} {c['shape']} f_b={c['fb_layers']} amp={c['amp']} cl={c['channels_last']}: "
              f"f_a bit-identical={c['fa_bit_identical']} ({c['fa_tensors']} tensors), "
              f"loss {c['epoch_losses'][0]:.3f} -> {c['epoch_losses'][-1]:.3f}: {'ok' if c['passed'] else 'FAILED'}")
    _release()

    for si, shape in enumerate(args.shapes):
        dataset, image, batch, classes = SHAPES[shape]
        batch = args.batch or batch
        data = synthetic_batch(image, batch, classes, device)
        for arch in args.archs:
            seed_everything(0)
            base = build_model(arch, dataset, width=args.width, num_classes=classes)
            case = {"shape": shape, "arch": arch, "image": image, "batch": batch, "classes": classes,
                    "analytic": {str(fb): analytic_costs(base, (3, image, image), fb)
                                 for fb in sorted({fb for _, fb in _variants(arch) if fb})},
                    "measurements": []}
            jobs = [(v, fb, p, False) for p in args.precisions for v, fb in _variants(arch)]
            if args.compile and si == 0:
                jobs += [(v, PAPER_FB_LAYERS[arch] if v == "frozen" else None, args.precisions[-1], True)
                         for v in ("full", "frozen")]
            runs = {}
            for variant, fb, prec, comp in [job for _ in range(args.repeats) for job in jobs]:
                label = f"{shape:<10} {arch:<9} {variant:<8} f_b={str(fb):<4} {prec:<8}{' compiled' if comp else ''}"
                if over():
                    case["measurements"].append({"variant": variant, "fb_layers": fb, "precision": prec,
                                                 "compiled": comp, "skipped": "time budget"})
                    print(f"  {label} skipped (budget {args.budget_s:.0f} s)", flush=True)
                    continue
                try:
                    m = measure(base, variant, fb, prec, data, device, args, compile_model=comp)
                except Exception as exc:  # noqa: BLE001 - torch.compile may be unavailable; record why
                    if not comp:
                        raise
                    m = {"variant": variant, "fb_layers": fb, "precision": prec, "compiled": comp,
                         "skipped": f"{type(exc).__name__}: {str(exc)[:300]}"}
                runs.setdefault((variant, fb, prec, comp), []).append(m)
                if not m.get("skipped"):
                    print(f"  {label} {m['images_per_s']:9.1f} img/s {m['step_s'] * 1e3:9.1f} ms/step "
                          f"{m['memory_mb']:9.1f} MB", flush=True)
            case["measurements"] = [_median_row(rows) for rows in runs.values()]
            plain = {m["precision"]: m for m in case["measurements"]
                     if m["variant"] == "plain" and not m.get("skipped")}
            for m in case["measurements"]:
                if not m.get("skipped") and m["precision"] in plain:
                    m["multiple_of_plain"] = m["step_s"] / plain[m["precision"]]["step_s"]
                    m["ideal_multiple"] = PGD_STEPS + 1
            case["ratios"] = _ratios(case["measurements"])
            report["cases"].append(case)
            del base
            _release()
    report["targets"] = targets(report["cases"])

    print("attack cost: standard AutoAttack vs APGD-CE", flush=True)
    report["attacks"] = attack_costs(args.archs[0], device, args) if not over() else {"skipped": "time budget"}
    _release()
    if args.skip_mi or over():
        report["mi"] = {"skipped": "--skip-mi" if args.skip_mi else "time budget"}
    else:
        print(f"edge_mi at N={args.mi[0]}, d={args.mi[1]}", flush=True)
        report["mi"] = mi_costs(device, args)
    report["total_s"] = time.perf_counter() - t_begin
    report["passed"] = all(c["passed"] for c in report["correctness"])
    return report


def format_report(report: dict) -> str:
    """Ratios side by side, multiples of a plain step, attack and EDGE costs, target status."""
    lines = [f"gpu_check on {report['device']}, torch {report['torch']}, width {report['width']}, "
             f"{report['timed_steps']} timed steps after {report['warmup_steps']} warm-up"]
    lines.append(f"{'shape':<10} {'arch':<9} {'f_b':>3} {'prec':<8} {'fr/full':>8} {'fr/auth':>8} "
                 f"{'mem fr/full':>11} {'mem fr/auth':>11} {'analytic':>8}")
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    for case in report["cases"]:
        for r in case["ratios"]:
            a = case["analytic"][str(r["fb_layers"])]["throughput_frozen_over_full"]
            lines.append(f"{case['shape']:<10} {case['arch']:<9} {r['fb_layers']:>3} {r['precision']:<8} "
                         f"{fmt(r.get('throughput_frozen_over_full')):>8} {fmt(r.get('throughput_frozen_over_authors')):>8} "
                         f"{fmt(r.get('memory_frozen_over_full')):>11} {fmt(r.get('memory_frozen_over_authors')):>11} "
                         f"{a:>8.2f}")
    lines.append("step time as a multiple of one plain step (ideal K+1 = 11):")
    for case in report["cases"]:
        parts = [f"{m['variant']}{'' if m['fb_layers'] is None else m['fb_layers']}/{m['precision']}"
                 f"{'/compiled' if m['compiled'] else ''}="
                 f"{m['multiple_of_plain']:.1f}" for m in case["measurements"]
                 if m.get("multiple_of_plain") and m["variant"] != "plain"]
        lines.append(f"  {case['shape']} {case['arch']}: " + " ".join(parts))
    at = report.get("attacks", {})
    if "seconds" in at.get("autoattack_standard", {}):
        lines.append(f"AutoAttack (standard) {at['autoattack_standard']['seconds_per_image'] * 1e3:.1f} ms/image, "
                     f"APGD-CE {at['apgd_ce']['seconds_per_image'] * 1e3:.1f} ms/image "
                     f"({at['autoattack_over_apgd_ce']:.1f}x) on {at['images']} images")
    mi = report.get("mi", {})
    if "cpu" in mi:
        lines.append(f"edge_mi N={mi['n']} d={mi['d']}: cpu {mi['cpu']['seconds']:.1f} s"
                     + (f", cuda {mi['cuda']['seconds']:.2f} s ({mi['cpu_over_cuda']:.1f}x)" if "cuda" in mi else ""))
    missed = [k for k, t in report["targets"].items() if t["met"] is False]
    lines.append(f"targets: {sum(t['met'] is True for t in report['targets'].values())} met, {len(missed)} missed"
                 + (": " + ", ".join(missed) if missed else ""))
    lines.append("correctness: " + ("passed" if report["passed"] else "FAILED"))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parse(argv)
    report = run(args)
    print(format_report(report))
    out = args.out or RESULTS_DIR / f"gpu_check_{args.device}.json"
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
