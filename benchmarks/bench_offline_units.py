"""The offline build's four units, timed with the old settings and the new in one run, with the cost model beside.

Units (VGG16 at the offline profile's width on Fashion-MNIST, 8/255):

1. ``train_epoch``: PGD-5 adversarial training of the full network (``semirobust.training.train``);
2. ``trial_epoch``: one epoch of Algorithm 1's trial (f_b = 12 trained under PGD-5, f_a frozen) and its per-epoch
   attack (APGD-CE at the profile's per-epoch iterations) on the validation and the per-epoch test images;
3. ``scoring``: the scoring attack on the scored test images (``evaluation_attack``: APGD-CE, then APGD-DLR where
   the profile asks for it);
4. ``after_trials``: what a seed does after its trials per network: the full standard AutoAttack on the profile's
   final images and rho (EDGE with its permutation nulls and the cross-measures) on the rho images.

"old" runs every attack on the network as built; "new" on its BatchNorm-folded view (``semirobust.folding``). Both
run in this process, interleaved (old, new, old, new, ...), on a fraction of each unit's images, and are scaled
to the unit's full size; ratios are old time / new time (medians over repeats). The cost model
(``semirobust.cost``) gives each unit's FLOPs; achieved GFLOP/s is those FLOPs over the measured time, set against
this machine's peak (a 2,048-square float32 matmul on the same threads). Timing is the evidence here, never a
test: tests/test_benchmarks.py runs this script at a tiny size and asserts nothing about the times.

Usage::

    python benchmarks/bench_offline_units.py                 # the offline profile's units, ~6 min on 2 cores
    python benchmarks/bench_offline_units.py --scale 0.02 --repeats 1 --no-save   # a smoke run
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch.utils.data import Subset

from semirobust.attacks import GradEvalCounter, adversarial_accuracy, make_attack
from semirobust.config import get_profile
from semirobust.cost import layer_flops, training_cost
from semirobust.data import dataset_tensors, load_dataset, stratified_indices
from semirobust.experiments.table1.evaluation import evaluation_attack
from semirobust.folding import unfolded
from semirobust.models import build_model
from semirobust.rho import layer_rhos
from semirobust.training import train
from semirobust.utils import cpu_name

RESULTS = Path(__file__).parent / "results"


def peak_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matmul rate on ``threads`` threads (GFLOP/s, best of ``repeats``)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _interleaved(fn_old, fn_new, repeats: int) -> tuple[float, float]:
    """Median seconds of old and new, run alternately so that machine load hits both alike."""
    fn_old(), fn_new()  # warm-up: oneDNN's primitive cache and the allocator, outside the timing
    old, new = [], []
    for _ in range(repeats):
        old.append(_timed(fn_old))
        new.append(_timed(fn_new))
    return statistics.median(old), statistics.median(new)


def run(scale: float, repeats: int, threads: int, fb_layers: int = 12) -> dict:
    torch.set_num_threads(threads)
    profile = get_profile("offline").for_run("vgg16", "fashion-mnist")
    eps = profile.eps255 / 255
    train_full = load_dataset("fashion-mnist", "train", subset=profile.train_subset, seed=0)
    n_train = int(len(train_full) * (1 - profile.val_fraction))
    n_sub = max(profile.batch_size, int(n_train * scale) // profile.batch_size * profile.batch_size)
    train_part = Subset(train_full, list(range(n_sub)))
    test = load_dataset("fashion-mnist", "test")
    per_epoch_images = (profile.val_subset or profile.eval_subset) + profile.eval_subset
    n_eval = max(16, int(per_epoch_images * scale))
    n_score = max(16, int(profile.test_scored * scale))
    n_aa = max(8, int((profile.final_autoattack_images or 0) * scale)) if profile.final_autoattack_images else 0
    n_images = max(n_eval, n_score, profile.rho_samples or 0)
    X, y = dataset_tensors(Subset(test, stratified_indices(test.targets, n_images, 0).tolist()))

    def network():
        torch.manual_seed(0)
        return build_model("vgg16", "fashion-mnist", profile.width)

    model = network()
    flops_forward = sum(layer_flops(model))  # multiply-accumulates of one image's forward pass
    units, model_of = {}, {}

    def unit(name, fn, full_images, images, flops_per_image):
        """Time ``fn(old)``'s calls; ``flops_per_image`` None: the FLOPs are the attacks' counted gradient
        evaluations (2F each, the cost model's attack step), as APGD skips images it has already broken."""
        counter = GradEvalCounter()
        if flops_per_image is None:
            counter.attach(model_of[name])
        t_old, t_new = _interleaved(lambda: [f() for f in fn(True)], lambda: [f() for f in fn(False)], repeats)
        counter.detach()
        if flops_per_image is None:
            flops_per_image = 2 * flops_forward * counter.count / (2 * repeats + 2) / images
        factor = full_images / images
        units[name] = {"old_s": t_old * factor, "new_s": t_new * factor, "ratio": t_old / t_new,
                       "images_timed": images, "images_full": full_images,
                       "gflop": 2 * flops_per_image * full_images / 1e9}
        print(f"{name:14s} old {t_old * factor:8.1f} s  new {t_new * factor:8.1f} s  old/new {t_old / t_new:5.2f}"
              f"  ({images} of {full_images} images timed)", flush=True)

    def ctx(old):
        return unfolded() if old else _Null()

    # 1. a PGD-5 epoch of the full network
    steps = profile.train_attack_steps
    def train_epoch(old):
        net = network()
        def go():
            with ctx(old):
                train(net, train_part, profile=profile, mode="adversarial", epochs=1, progress=False, train_eps=eps)
        return [go]
    per_image = training_cost(model, "adversarial", None, 1, steps) * 3 * flops_forward
    unit("train_epoch", train_epoch, n_train, n_sub, per_image)

    # 2. a trial epoch: f_b under PGD-5 and the per-epoch attack on validation + test images
    def trial_epoch(old):
        net = network()
        def go():
            with ctx(old):
                train(net, train_part, profile=profile, mode="adversarial", fb_layers=fb_layers, epochs=1,
                      progress=False, train_eps=eps, lr=profile.trial_lr, constant_lr=True)
                adversarial_accuracy(net, (X[:n_eval], y[:n_eval]),
                                     evaluation_attack(net, "autoattack", eps, profile, per_epoch=True),
                                     batch_size=256, progress=False)
        return [go]
    per_image = training_cost(model, "adversarial", fb_layers, 1, steps) * 3 * flops_forward
    unit("trial_epoch", trial_epoch, n_train, n_sub, per_image + 2 * flops_forward * (profile.stopping_apgd_iters or 100)
         * per_epoch_images / n_train)

    # 3. the scoring attack on the scored images, against a network that resists it (APGD skips the images a network
    # already gets wrong, so an untrained one would time nothing): 3 PGD-5 epochs on the timed training images
    robust = network()
    train(robust, train_part, profile=profile, mode="adversarial", epochs=3, progress=False, train_eps=eps)
    def scoring(old):
        def go():
            with ctx(old):
                adversarial_accuracy(robust, (X[:n_score], y[:n_score]),
                                     evaluation_attack(robust, "autoattack", eps, profile), batch_size=256,
                                     progress=False)
        return [go]
    model_of["scoring"] = model_of["after_trials"] = robust
    unit("scoring", scoring, profile.test_scored, n_score, None)

    # 4. after the trials, per network: the full AutoAttack and rho with its nulls and cross-measures
    def after(old):
        def go():
            with ctx(old):
                if n_aa:
                    adversarial_accuracy(robust, (X[:n_aa], y[:n_aa]), make_attack("autoattack", robust, eps),
                                         batch_size=256, progress=False)
                n_rho = profile.rho_samples or 200  # the estimator needs its 10 per class: never scaled
                layer_rhos(robust, X[:n_rho], y[:n_rho], fb_layers,
                           attack=evaluation_attack(robust, "autoattack", eps, profile), measures=("edge", "cka"))
        return [go]
    unit("after_trials", after, 1, 1, None)

    peak = peak_gflops(threads)
    for u in units.values():
        u["gflops_new"] = u["gflop"] / u["new_s"] if u["gflop"] else None
        u["peak_fraction"] = u["gflops_new"] / peak if u["gflops_new"] else None
    predicted = training_cost(model, "adversarial", fb_layers, 1, steps) / training_cost(model, "adversarial", None,
                                                                                          1, steps)
    measured = (units["trial_epoch"]["new_s"] / units["train_epoch"]["new_s"])
    print(f"peak {peak:.1f} GFLOP/s on {threads} threads; achieved (new): " + ", ".join(
        f"{n} {u['gflops_new']:.2f} ({100 * u['peak_fraction']:.1f}%)" for n, u in units.items() if u["gflops_new"]))
    print(f"trial epoch / train epoch: cost model (training alone) {predicted:.2f}, measured (with its per-epoch "
          f"attack) {measured:.2f}")
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.processor() or platform.machine(),
            "cpu": cpu_name(), "threads": threads, "scale": scale, "repeats": repeats, "units": units,
            "peak_gflops": peak, "trial_over_train_predicted": predicted, "trial_over_train_measured": measured,
            "torch": torch.__version__}




class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of each unit's images timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    out = run(args.scale, args.repeats, args.threads)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_offline_units.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
