"""Benchmark: vectorized EDGE (semirobust.mi) against the loop reference (tests/edge_reference.py).

For each sample size N and dimension d, both sides are N x d float32 (rank-16 latent structure,
like correlated conv features). Both implementations share one ``edge_setup`` (projection,
k-NN bandwidths, shifts); they differ in the hashing/counting of the L x 2 ensemble estimates
(vectorized bucket keys + unique vs. a Python loop over samples with dictionaries). Printed:
setup time, estimate time of each, their ratio, end-to-end times and their ratio, and the growth
exponent of the end-to-end time with N (1 = linear). Cells whose inputs would exceed
``--max-gb`` are skipped and listed.

    python benchmarks/bench_edge.py                # full grid, a few minutes
    python benchmarks/bench_edge.py --quick        # small subset
    python benchmarks/bench_edge.py --threads 1    # on a busy machine (threads fight for cores)
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from edge_reference import reference_bucket_mi  # noqa: E402

from semirobust import mi  # noqa: E402

FULL_N = (1_000, 10_000, 50_000)
FULL_D = (64, 4_096, 65_536)
QUICK_N = (1_000, 10_000)
QUICK_D = (64, 4_096)
LATENT = 16


def loop_members(zx, zy, eps_x, eps_y, shift_x, shift_y, upper):
    """The loop reference applied to every ensemble member."""
    return np.array([reference_bucket_mi(zx, zy, eps_x[j], eps_y[j], shift_x[j], shift_y[j], upper)
                     for j in range(eps_x.shape[0])])


def make_inputs(n: int, d: int, seed: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """X = Z A, Y = (Z + noise) B with a 16-dimensional latent Z, generated in row chunks (float32)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((LATENT, d), dtype=np.float32)
    b = rng.standard_normal((LATENT, d), dtype=np.float32)
    x, y = np.empty((n, d), np.float32), np.empty((n, d), np.float32)
    for i in range(0, n, chunk):
        z = rng.standard_normal((min(chunk, n - i), LATENT), dtype=np.float32)
        x[i:i + chunk] = z @ a
        y[i:i + chunk] = (z + 0.5 * rng.standard_normal(z.shape, dtype=np.float32)) @ b
    return x, y


def best_time(fn, repeat: int):
    """(smallest wall time over ``repeat`` runs, last result)."""
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run_cell(n: int, d: int, seed: int, repeat: int) -> dict:
    x, y = make_inputs(n, d, seed)
    t_setup, setup = best_time(lambda: mi.edge_setup(x, y, seed=seed), repeat)
    t_vec, v_vec = best_time(lambda: mi.ensemble_mi(setup), repeat)
    t_loop, v_loop = best_time(lambda: mi.ensemble_mi(setup, estimator=loop_members), 1)
    if not math.isclose(v_vec, v_loop, rel_tol=1e-9, abs_tol=1e-12):
        raise AssertionError(f"N={n} d={d}: vectorized {v_vec} != loop {v_loop}")
    return {"N": n, "d": d, "d_proj": setup.zx.shape[1], "setup": t_setup, "vec": t_vec, "loop": t_loop,
            "total_vec": t_setup + t_vec, "total_loop": t_setup + t_loop, "mi": v_vec}


def growth(rows: list[dict], key: str) -> dict[tuple[int, int], float]:
    """Exponent of ``key`` time against N between consecutive sizes of the same d."""
    out = {}
    for d in sorted({r["d"] for r in rows}):
        cells = sorted((r for r in rows if r["d"] == d), key=lambda r: r["N"])
        for prev, cur in zip(cells, cells[1:]):
            out[cur["N"], d] = math.log(cur[key] / prev[key]) / math.log(cur["N"] / prev["N"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N in {1000, 10000}, d in {64, 4096}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats (best of); default 3 quick, 1 full")
    parser.add_argument("--max-gb", type=float, default=6.0, help="skip cells whose X and Y exceed this (GB)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's); use 1 on a shared or busy machine")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    mi.edge_mi(*make_inputs(200, 8, args.seed))  # warm-up: one-time library initialization is not timed
    sizes, dims = (QUICK_N, QUICK_D) if args.quick else (FULL_N, FULL_D)
    repeat = args.repeat or (3 if args.quick else 1)

    rows, skipped = [], []
    for d in dims:
        for n in sizes:
            gb = 2 * n * d * 4 / 1e9
            if gb > args.max_gb:
                skipped.append(f"N={n:,} d={d:,}: X and Y take {gb:.1f} GB as float32 (> {args.max_gb} GB)")
                continue
            rows.append(run_cell(n, d, args.seed, repeat))
            print(f"done N={n:,} d={d:,}", file=sys.stderr, flush=True)

    grow_vec, grow_loop = growth(rows, "total_vec"), growth(rows, "total_loop")
    header = (f"{'N':>7} {'d':>6} {'d_proj':>6} {'setup s':>8} {'vec s':>8} {'loop s':>8} {'loop/vec':>8} "
              f"{'total vec':>9} {'total loop':>10} {'ratio':>6} {'grow vec':>8} {'grow loop':>9} {'MI bits':>7}")
    print(f"EDGE benchmark (L=10 bandwidths x 2 passes, seed {args.seed}, best of {repeat}, loop timed once; "
          f"{torch.get_num_threads()} torch thread(s), device cpu)")
    print(header)
    print("-" * len(header))
    for r in sorted(rows, key=lambda r: (r["d"], r["N"])):
        key = (r["N"], r["d"])
        gv = f"{grow_vec[key]:.2f}" if key in grow_vec else "-"
        gl = f"{grow_loop[key]:.2f}" if key in grow_loop else "-"
        print(f"{r['N']:>7,} {r['d']:>6,} {r['d_proj']:>6} {r['setup']:>8.3f} {r['vec']:>8.3f} {r['loop']:>8.3f} "
              f"{r['loop'] / r['vec']:>7.1f}x {r['total_vec']:>9.3f} {r['total_loop']:>10.3f} "
              f"{r['total_loop'] / r['total_vec']:>5.1f}x {gv:>8} {gl:>9} {r['mi']:>7.3f}")
    for line in skipped:
        print(f"skipped {line}")
    print("setup = projection + k-NN bandwidths (shared); vec/loop = hashing and counting of all estimates; "
          "grow = d log(time) / d log(N) of the end-to-end time (1 = linear).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
