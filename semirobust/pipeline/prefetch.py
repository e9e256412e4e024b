"""Run the book's Algorithm 1 seeds on every CPU core before the notebooks execute.

A notebook runs one Table 1 cell after another, each seed after the last, in one process. On this 2-core
machine two single-threaded processes train ~1.5x as many images per second as one process with two threads
(measured: VGG16 at width 0.125, 0.78 ms per image per step in each of two processes against 0.58 ms in one),
and the seeds of a cell are independent records (``table1_seed``). So ``make book`` first runs every seed the
notebooks will ask for in a pool of worker processes; the notebooks then read the records.

Seeds that share trained networks (the same network, data set and seed: Figure 2's f_b sizes) run in one
worker, one after the other, so a network is never trained twice at once. Groups go to the least-loaded
worker, the costliest first, by :func:`estimated_seconds`.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import time

import torch

from semirobust.config import RunConfig, parse_list
from semirobust.experiments.table1 import population
from semirobust.experiments.table1.algorithm1 import run_seed
from semirobust.experiments.table1.arms import cell_arms
from semirobust.experiments.table1.configs import build_configs
from semirobust.pipeline.pages import STUDIES

#: measured on this machine (2 threads, channels-last weights for VGG16 and AlexNet; benchmarks/bench_cpu_formats.py):
#: milliseconds per image of a standard training step and of one attack iteration, at the width given
_MS_PER_IMAGE = {"vgg16": (0.125, 0.64, 0.28), "alexnet": (0.25, 0.83, 0.46), "resnet50": (0.0625, 2.1, 1.35)}


def book_configs(profile: str, dataset: str, device: str = "auto") -> list[RunConfig]:
    """The Algorithm 1 cells the book's pages list (:func:`semirobust.experiments.table1.population.book_configs`:
    Table 1's, Figure 2's and Figure 1's cells, each once): exactly the records the pages read."""
    return population.book_configs(profile, dataset, device=device)


def seed_units(configs: list[RunConfig]) -> list[RunConfig]:
    """One config per (cell, seed), the profile's seeds of each cell."""
    return [dataclasses.replace(c, seed=c.seed + s) for c in configs for s in c.resolved_profile.seeds]


def estimated_seconds(config: RunConfig) -> float:
    """A rough cost of one seed in seconds: training (regular, adversarial, each arm's trials), the per-epoch
    attack on the validation and test images, and the scores (APGD-CE, 100 iterations, on ~75% of the images)."""
    p = config.resolved_profile
    width, step, iteration = _MS_PER_IMAGE.get(config.arch, _MS_PER_IMAGE["vgg16"])
    scale = (p.width / width) ** 1.5
    images = (p.train_subset or 2000) * (1 - p.val_fraction)
    adversarial = p.train_attack_steps * iteration + step
    arms = len(cell_arms(p, config.arch, config.fb_layers))
    epochs = arms * config.resolved_trials * config.resolved_epochs
    train = images * ((p.standard_epochs or p.epochs) * step + p.epochs * adversarial + epochs * adversarial)
    per_epoch = epochs * ((p.eval_subset or 1000) + (p.val_subset or p.eval_subset or 1000)) * \
        (p.stopping_apgd_iters or 100) * iteration * 0.75
    scoring = (3 + arms) * (p.test_scored or p.eval_subset or 1000) * 100 * iteration * 0.75
    return scale * (train + per_epoch + scoring) * 1e-3


def plan(units: list[RunConfig], workers: int) -> list[list[RunConfig]]:
    """Units grouped by shared networks (arch, data set, seed), groups assigned to the least-loaded worker."""
    groups: dict[tuple, list[RunConfig]] = {}
    for unit in units:
        groups.setdefault((unit.arch, unit.dataset, unit.seed), []).append(unit)
    loads, queues = [0.0] * workers, [[] for _ in range(workers)]
    for group in sorted(groups.values(), key=lambda g: -sum(map(estimated_seconds, g))):
        i = loads.index(min(loads))
        queues[i].extend(sorted(group, key=lambda c: -c.fb_layers))
        loads[i] += sum(map(estimated_seconds, group))
    # within a worker, Table 1's primary cell (VGG16 on the first data set) first, then its data set's other cells
    first = units[0].dataset if units else None
    order = lambda c: (c.dataset != first, c.arch != "vgg16")  # noqa: E731 (stable: a group keeps its order)
    return [sorted(queue, key=order) for queue in queues]


def study_units(profile: str, dataset: str, device: str = "auto") -> list[tuple[str, RunConfig]]:
    """The later studies' units ``(study, config)``, one per seed each study of the book's pages
    (:data:`semirobust.pipeline.pages.STUDIES`) asks for (the profile's ``budget_table_seeds``, ``pays_seeds``,
    ``table_s5_seeds``) of the primary cell (VGG16 on ``dataset``)."""
    primary = build_configs("vgg16", dataset, attack="autoattack", profile=profile, device=device)[0]
    return [(name, config) for name, study in STUDIES.items() for config in study.configs(primary)]


def _key(config: RunConfig) -> tuple:
    return (config.arch, config.dataset, config.fb_layers, config.seed)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_group(group: list[RunConfig], results_dir, cache_dir) -> list[tuple]:
    for config in group:
        run_seed(config, results_dir=results_dir, cache_dir=cache_dir, progress=False)
    return [_key(c) for c in group]


def _run_study(name: str, config: RunConfig, results_dir, cache_dir) -> str:
    STUDIES[name].run(config, results_dir=results_dir, cache_dir=cache_dir, progress=False)
    return name


def prefetch(profile: str, dataset: str, *, workers: int = 2, threads: int = 1, device: str = "auto",
             results_dir=None, cache_dir=None, only_archs=None, studies: bool = True) -> float:
    """Run every seed of :func:`book_configs` and then (``studies``) every unit of :func:`study_units` in a pool
    of ``workers`` processes of ``threads`` threads; returns the wall time. Seeds that share trained networks
    run one after the other in one task; a study starts once the seed it reads has finished. Finished seeds and
    studies are read from the store, so a rerun after an interruption resumes."""
    units = seed_units(book_configs(profile, dataset, device))
    if only_archs:
        units = [u for u in units if u.arch in parse_list(only_archs, "archs")]
    groups = [g for q in plan(units, 1) for g in _groups_in_order(q)]
    waiting = study_units(profile, dataset, device) if studies else []
    start, done, failures = time.perf_counter(), set(), []
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
        pending = []

        def submit_ready():
            for item in [w for w in waiting if _key(w[1]) in done]:
                waiting.remove(item)
                pending.append((f"{item[0]} seed {item[1].seed}",
                                pool.apply_async(_run_study, (*item, results_dir, cache_dir))))

        for group in groups:
            pending.append((group, pool.apply_async(_run_group, (group, results_dir, cache_dir))))
        while pending:
            time.sleep(2)
            for entry in [p for p in pending if p[1].ready()]:
                pending.remove(entry)
                try:
                    result = entry[1].get()
                    if isinstance(result, list):
                        done.update(result)
                except Exception as exc:  # noqa: BLE001 (reported below; the notebooks rerun what is missing)
                    failures.append(f"{entry[0]}: {type(exc).__name__}: {exc}")
            submit_ready()
    if failures:
        raise RuntimeError(f"{len(failures)} prefetch task(s) failed; the notebooks will run what is missing and "
                           "name the error: " + "; ".join(failures))
    return time.perf_counter() - start


def _groups_in_order(queue: list[RunConfig]) -> list[list[RunConfig]]:
    """A worker queue of :func:`plan` cut into tasks: consecutive units that share networks (arch, data set,
    seed) form one task, so they never run at once."""
    groups: list[list[RunConfig]] = []
    for unit in queue:
        if groups and (groups[-1][0].arch, groups[-1][0].dataset, groups[-1][0].seed) == \
                (unit.arch, unit.dataset, unit.seed):
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return groups


__all__ = ["book_configs", "seed_units", "study_units", "estimated_seconds", "plan", "prefetch"]
