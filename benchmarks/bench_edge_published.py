"""Benchmark: our EDGE at the ``authors`` preset against the published code the paper ran, side by side.

The published estimator is Sekeh-Lab/SemirobustSubnetworks, MI/AuxiliaryScripts/mi_estimator.py
(Noshad's EDGE 4.4.1 with ``L_ensemble=1, normalize_epsilon=False, stochastic=True``). It is not
part of this project: fetch that repository yourself and pass the file with ``--published``. The
script imports it from there, runs both on the same activation-like data (Y = relu(X W) + noise,
N samples, d dimensions per side; at N = 10,000 in float64 and in float32, the activations' type)
and prints, per cell, the mean over ``--seeds`` runs of each
estimate, their relative difference, the time of each and the speed ratio; and the cost of one
calibrated rho (20 permutations) against one uncalibrated estimate.

    python benchmarks/bench_edge_published.py --published /path/to/mi_estimator.py
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semirobust import mi
from semirobust.utils import atomic_write_text

AGREEMENT_CELLS = ((2000, 64), (2000, 512))
SPEED_CELLS = ((10_000, 512), (10_000, 4096))
#: the speed cells run on float64 data and on float32, the type of the layer activations rho is measured on
SPEED_DTYPES = ("float64", "float32")


def load_published(path: Path):
    """Import the published module from a file outside the project (numpy >= 1.23 lacks asscalar)."""
    if not hasattr(np, "asscalar"):
        np.asscalar = lambda a: a.item()  # the published floor-hashing branch calls it (unused above 6 dims)
    import types

    # cvxpy is imported at the top but used only by the 'optimal_weights' ensemble, which is not run here
    sys.modules.setdefault("cvxpy", types.ModuleType("cvxpy"))
    spec = importlib.util.spec_from_file_location("published_edge", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def activation_like(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n, d)), 0).astype(np.float32)
    w = rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    y = np.maximum(x @ w, 0) + 0.1 * rng.standard_normal((n, d)).astype(np.float32)
    return x.astype(np.float64), y.astype(np.float64)


def timed(fn, repeats: int = 1):
    """The value of ``fn()`` and the median of ``repeats`` wall times (the machine is shared: one run can be slow)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return value, float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", type=Path, required=True, help="path of the published mi_estimator.py")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per speed cell (the median is shown)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "edge_published.json")
    args = parser.parse_args(argv)
    if not args.published.is_file():
        print(f"--published {args.published} is not a file: fetch Sekeh-Lab/SemirobustSubnetworks first.")
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    published = load_published(args.published)
    rows = []
    print(f"{'N':>6} {'d':>5} {'dtype':>7} | {'ours':>7} {'published':>9} {'rel.diff':>8} | {'ours s':>7} {'publ. s':>8} {'speed-up':>8}")
    cells = [(n, d, "float64") for n, d in AGREEMENT_CELLS] + [(n, d, t) for t in SPEED_DTYPES for n, d in SPEED_CELLS]
    for n, d, dtype in cells:
        seeds, repeats = (args.seeds, 1) if (n, d) in AGREEMENT_CELLS else (1, args.repeats)
        ours, theirs, t_ours, t_theirs = [], [], 0.0, 0.0
        for seed in range(seeds):
            x, y = (a.astype(dtype) for a in activation_like(n, d, seed))
            value, t = timed(lambda: mi.edge_mi(x, y, preset="authors", seed=seed), repeats)
            ours.append(value)
            t_ours += t
            value, t = timed(lambda: published.EDGE(x, y), repeats)
            theirs.append(value)
            t_theirs += t
        row = {"n": n, "d": d, "dtype": dtype, "seeds": seeds, "ours": float(np.mean(ours)), "published": float(np.mean(theirs)),
               "seconds_ours": t_ours / seeds, "seconds_published": t_theirs / seeds}
        row["relative_difference"] = (row["ours"] - row["published"]) / row["published"]
        row["speedup"] = row["seconds_published"] / row["seconds_ours"]
        rows.append(row)
        print(f"{n:>6} {d:>5} {dtype:>7} | {row['ours']:7.3f} {row['published']:9.3f} {row['relative_difference']:+8.1%} | "
              f"{row['seconds_ours']:7.3f} {row['seconds_published']:8.3f} {row['speedup']:7.1f}x", flush=True)
    # calibrated rho of one layer pair (10 classes of 100, 20 permutations) against one uncalibrated estimate
    x, y = activation_like(1000, 2048, 0)
    labels = np.repeat(np.arange(10), 100)
    _, t_one = timed(lambda: mi.class_conditional_mi(x, y, labels, preset="authors"))
    _, t_cal = timed(lambda: mi.calibrated_mi(x, y, labels, permutations=20))
    calibration = {"n": 1000, "d": 2048, "classes": 10, "permutations": 20, "seconds_uncalibrated": t_one,
                   "seconds_calibrated": t_cal, "ratio": t_cal / t_one}
    print(f"calibrated rho (20 permutations) {t_cal:.2f} s vs one estimate {t_one:.2f} s: {t_cal / t_one:.2f}x")
    atomic_write_text(args.out, json.dumps({"cells": rows, "calibration": calibration,
                                            "threads": torch.get_num_threads()}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
