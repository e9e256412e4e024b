"""Benchmark: gradient evaluations per Table 1 cell, ours against the authors' procedure.

One gradient evaluation is one image's forward and backward pass (``semirobust.attacks.GradEvalCounter``).

1. **The estimate, checked.** The authors' cost is an estimate
   (``semirobust.attacks.autoattack_grad_evals``: APGD-CE on every image, APGD-T and FAB-T over 9
   targets on the images still robust). On a small network and ``--images`` test images the
   standard AutoAttack (``pyautoattack``) runs once under the counter; measured and estimated
   counts are printed side by side.
2. **Per cell.** For every listed cell of the book at ``--profile`` that the results store holds: the count
   measured during our run (Acc_sr, every trial's training and its APGD-CE stopping and test
   evaluations, rho's attacked images, the full AutoAttack once per final network) against the
   authors' procedure on the same split (standard AutoAttack on the whole test set after every
   epoch of 10 trials of 10 epochs, plus PGD-10 training of f_b), and the ratio (target: at least
   10x fewer). At the offline profile the final evaluations differ (ours: the full AutoAttack on
   40 images of the first seed's networks), so this ratio flatters ours.
3. **At the paper's scale, the same final evaluation.** CIFAR-10 sizes at the paper profile
   (``semirobust.cost.grad_evals_at_scale``: 40,000 training and 10,000 validation
   images, APGD-CE on 1,000 validation and 1,000 test images after every epoch, rho on the whole test
   set), both procedures ending with the full standard AutoAttack on the whole test set: ours (T x E
   epochs of PGD-10 training of f_b, the full AutoAttack on 3 final networks) against the authors'
   (10 x 10 epochs, the full AutoAttack on the test set after every epoch), from the same counting
   rules, at the robust fraction ``--robust`` (Acc* of the paper's networks); also with the authors'
   10 trials, and with APGD-CE on the whole validation and test sets after every epoch.

    python benchmarks/bench_grad_evals.py                    # offline profile, 64 images
    python benchmarks/bench_grad_evals.py --profile smoke --images 32
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch import nn

from semirobust.attacks import GradEvalCounter, autoattack_grad_evals, make_attack
from semirobust.config import MODEL_NAMES, get_profile
from semirobust.cost import grad_evals_at_scale
from semirobust.experiments.table1 import population


def measured_autoattack(images: int, seed: int = 0) -> tuple[int, float, float]:
    """Count the standard AutoAttack's gradient evaluations on a small CNN and ``images`` random images."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(128, 10)).eval()
    x = torch.rand(images, 3, 32, 32)
    with torch.no_grad():
        y = model(x).argmax(1)  # every image starts correctly classified, as in a trained network
    counter = GradEvalCounter()
    counter.attach(model)
    attack = make_attack("autoattack", model, 8 / 255)
    start = time.perf_counter()
    x_adv = attack(x, y)
    seconds = time.perf_counter() - start
    counter.detach()
    with torch.no_grad():
        robust = float((model(x_adv).argmax(1) == y).float().mean())
    return counter.count, robust, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--dataset", default=None, help="the book's data set (default: the profile's listed one)")
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--robust", type=float, default=0.45, help="Acc* as a fraction, for the paper-scale count")
    args = parser.parse_args()

    whole_sets = dataclasses.replace(get_profile("paper"), eval_subset=None)
    print(f"paper scale (CIFAR-10 sizes, Acc* {args.robust:.0%}, the same final evaluation: the full AutoAttack on "
          f"the whole test set)")
    for label, count in (("paper profile", grad_evals_at_scale("paper", robust=args.robust)),
                         ("paper profile, 10 trials", grad_evals_at_scale("paper", robust=args.robust, trials=10)),
                         ("APGD-CE on whole val+test per epoch", grad_evals_at_scale(whole_sets, robust=args.robust))):
        print(f"  {label:<38} ours {count['ours']:.3g} (training {count['training']:.3g}, APGD-CE after every "
              f"epoch {count['stopping']:.3g}, rho {count['rho']:.3g}, Acc*/Acc_sr {count['reference']:.3g}, final "
              f"AutoAttack {count['final']:.3g}) against the authors' {count['authors']:.3g}: "
              f"{count['ratio']:.1f}x fewer (target 10x)")
    print()

    count, robust, seconds = measured_autoattack(args.images)
    estimate = autoattack_grad_evals(args.images, robust)
    print(f"standard AutoAttack on {args.images} images (small CNN, final robust fraction {robust:.2f}, {seconds:.0f} s): "
          f"measured {count:,} gradient evaluations, estimate {estimate:,.0f} (measured/estimate {count / estimate:.2f})")

    dataset = args.dataset or population.book_dataset(args.profile) or "cifar10"
    records, missing = population.stored_cells(population.book_configs(args.profile, dataset),
                                               results_dir=args.results_dir)
    for cell in missing:
        print(f"not computed yet: {cell}")
    if not records:
        print(f"none of the book's cells of profile {args.profile!r} is in the results store: run `make book` first.")
        return
    print(f"\n{'cell':<34} {'ours':>12} {'authors':>14} {'ratio':>8}")
    for record in records:
        c, m = record["config"], record["metrics"]
        cell = f"{MODEL_NAMES.get(c['arch'], c['arch'])} f_b={c['fb_layers']} {c['dataset']} {c['attack']} {c['eps'] * 255:.0f}/255"
        ours, authors = m["grad_evals"], m["grad_evals_authors"]
        print(f"{cell:<34} {ours:>12,.0f} {authors:>14,.0f} {authors / max(ours, 1):>7.1f}x")


if __name__ == "__main__":
    main()
