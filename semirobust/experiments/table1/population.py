"""The book's population: the Table 1 cells each page reads, listed per profile, and the reads by identity.

A page never reads "the newest record with the same name". Its cells (network, data set, f_b size, arms, seeds)
are listed here; each cell's record identity is built from its RunConfig exactly as Algorithm 1 writes it
(:func:`semirobust.experiments.table1.configs.table1_config`: the profile's hash, T, E, k, the seeds, the attack,
eps, f_b, the data set and the code version) and that one record is read, by its hash (:func:`read_cells`). A
record outside the list never enters a page. A listed record that is missing is an error naming it, except at
the smoke profile, where the page runs the cell (Algorithm 1, as ``run_algorithm1`` always did: CI builds the
book from an empty store). The build's prefetch runs exactly these cells (:func:`book_configs`).

:data:`BOOK_CELLS` is the committed list of the offline profile (the book's data set Fashion-MNIST) and of the
smoke profile (digits); any other profile or data set (the paper's) is derived by :func:`derived_cells`, the rule
the committed lists were derived by (a test keeps them equal, so a profile change that would move the population
has to change the list too).
"""
from __future__ import annotations

import dataclasses

from semirobust.config import ARCH_SPECS, ARCHS, DATASET_NAMES, MODEL_NAMES, RunConfig, check_choice, get_profile
from semirobust.experiments.table1.arms import ArmName, cell_arms
from semirobust.experiments.table1.configs import (
    SEED_KIND,
    SUMMARY_KIND,
    figure1_configs,
    summary_config,
    table1_config,
)
from semirobust.results import ResultsStore, to_jsonable

#: the evaluation attack of every cell of the book.
BOOK_ATTACK = "autoattack"
#: the pages that read Table 1 cells, in the order their cells are listed (and prefetched).
CELL_PAGES = ("table1", "figure2", "figure1")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One listed Table 1 cell of one page: network, data set, f_b size, the arms it runs and its seeds."""

    page: str
    arch: str
    dataset: str
    fb_layers: int
    arms: tuple[ArmName, ...]
    seeds: tuple[int, ...]

    @property
    def label(self) -> str:
        """e.g. "ResNet50 on digits, f_b = 4"."""
        return f"{MODEL_NAMES[self.arch]} on {DATASET_NAMES[self.dataset]}, f_b = {self.fb_layers}"


_OFFLINE_ARMS = (ArmName.ALGORITHM1, ArmName.RANDOM_FA, ArmName.REGULAR_FA, ArmName.STANDARD_FB, ArmName.FULL_FINETUNE)
_SMOKE_ARMS = (ArmName.ALGORITHM1, ArmName.RANDOM_FA, ArmName.STANDARD_FB)
_ONE = (ArmName.ALGORITHM1,)

#: the committed populations: (profile, the book's data set) -> the cells of each page, in :data:`CELL_PAGES` order.
BOOK_CELLS = {
    ("offline", "fashion-mnist"): (
        Cell("table1", "vgg16", "fashion-mnist", 12, _OFFLINE_ARMS, (0, 1, 2)),
        Cell("figure2", "resnet50", "digits", 4, _ONE, (0,)),
        Cell("figure2", "resnet50", "digits", 16, _ONE, (0,)),
        Cell("figure1", "alexnet", "digits", 4, _ONE, (0,)),
        Cell("figure1", "vgg16", "fashion-mnist", 12, _OFFLINE_ARMS, (0, 1, 2)),
        Cell("figure1", "vgg16", "digits", 12, _ONE, (0,)),
        Cell("figure1", "resnet50", "digits", 16, _ONE, (0,)),
    ),
    ("smoke", "digits"): (
        Cell("table1", "vgg16", "digits", 12, _SMOKE_ARMS, (0,)),
        Cell("figure2", "resnet50", "digits", 4, _ONE, (0,)),
        Cell("figure2", "resnet50", "digits", 16, _SMOKE_ARMS, (0,)),
        Cell("figure1", "alexnet", "digits", 4, _SMOKE_ARMS, (0,)),
        Cell("figure1", "vgg16", "digits", 12, _SMOKE_ARMS, (0,)),
        Cell("figure1", "resnet50", "digits", 16, _SMOKE_ARMS, (0,)),
    ),
}


def derived_cells(profile: str, dataset: str) -> tuple[Cell, ...]:
    """The cells by the book's rule: Table 1's VGG16 at the paper's f_b on ``dataset``; Figure 2's ResNet50 at the
    profile's f_b sizes on its ``figure2_dataset`` (else ``dataset``); Figure 1's networks at the paper's f_b on
    ``dataset`` and the profile's extra data sets, less the cells it leaves out. Arms and seeds: the profile's."""
    prof = get_profile(profile)

    def cell(page: str, arch: str, on: str, fb_layers: int) -> Cell:
        run = prof.for_run(arch, on)
        return Cell(page, arch, on, fb_layers, cell_arms(run, arch, fb_layers), tuple(run.seeds))

    datasets = [dataset, *(d for d in prof.figure1_extra_datasets if d != dataset)]
    return (cell("table1", "vgg16", dataset, ARCH_SPECS["vgg16"].paper_fb_layers),
            *(cell("figure2", "resnet50", prof.figure2_dataset or dataset, f) for f in prof.figure2_fb_sizes),
            *(cell("figure1", a, d, ARCH_SPECS[a].paper_fb_layers) for a in ARCHS for d in datasets
              if (a, d) not in prof.figure1_left_out))


def book_cells(profile: str, dataset: str) -> tuple[Cell, ...]:
    """The listed cells of the book at ``profile`` on the book's data set ``dataset``: committed, or derived."""
    name = get_profile(profile).name
    return BOOK_CELLS.get((name, dataset)) or derived_cells(name, dataset)


def book_dataset(profile: str) -> str | None:
    """The book's data set of the committed population of ``profile`` (None: the profile has none committed)."""
    name = get_profile(profile).name
    return next((dataset for (listed, dataset) in BOOK_CELLS if listed == name), None)


def cell_config(cell: Cell, profile: str, *, data_root=None, device: str = "auto") -> RunConfig:
    """The RunConfig of a listed cell, checked against the list: the profile must give the cell's seeds and arms
    (a clear error when it no longer does: the list is then updated on purpose, never silently)."""
    config = RunConfig(arch=cell.arch, dataset=cell.dataset, attack=BOOK_ATTACK, fb_layers=cell.fb_layers,
                       profile=profile, seed=cell.seeds[0], data_root=data_root, device=device)
    run = config.resolved_profile
    seeds = tuple(config.seed + s for s in run.seeds)
    arms = cell_arms(run, cell.arch, cell.fb_layers)
    if seeds != cell.seeds or arms != cell.arms:
        raise ValueError(f"The listed cell {cell.label} ({cell.page}) has seeds {cell.seeds} and arms {cell.arms}, but "
                         f"the {run.name} profile now gives seeds {seeds} and arms {arms}; update BOOK_CELLS in "
                         "semirobust/experiments/table1/population.py if that change is meant.")
    return config


def page_configs(page: str, profile: str, dataset: str, *, data_root=None, device: str = "auto") -> list[RunConfig]:
    """The RunConfigs of ``page``'s listed cells (:func:`book_cells`)."""
    check_choice("page", page, CELL_PAGES)
    return [cell_config(c, profile, data_root=data_root, device=device) for c in book_cells(profile, dataset)
            if c.page == page]


def book_configs(profile: str, dataset: str, *, data_root=None, device: str = "auto") -> list[RunConfig]:
    """Every listed cell of the book once (pages share cells), in :data:`CELL_PAGES` order: what the prefetch runs."""
    configs = [cell_config(c, profile, data_root=data_root, device=device) for c in book_cells(profile, dataset)]
    return list({(c.arch, c.dataset, c.fb_layers): c for c in configs}.values())


def figure1_page_configs(profile: str, datasets, *, data_root=None, device: str = "auto"):
    """Figure 1's listed cells and the cells its profile leaves out, for the book's ``datasets`` (the book's data
    set first, then the profile's extra ones). ``datasets`` must be the data sets the list holds for Figure 1."""
    names = [d.strip() for d in datasets.split(",")] if isinstance(datasets, str) else list(datasets)
    for name in names:
        check_choice("dataset", name, tuple(DATASET_NAMES))
    configs = page_configs("figure1", profile, names[0], data_root=data_root, device=device)
    listed = list(dict.fromkeys(c.dataset for c in configs))
    if sorted(listed) != sorted(dict.fromkeys(names)):
        raise ValueError(f"datasets={datasets!r}: Figure 1 at the {get_profile(profile).name} profile reads the listed "
                         f"cells on {', '.join(listed)} (semirobust.experiments.table1.population); give those.")
    left_out = figure1_configs(",".join(ARCHS), ",".join(names), attack=BOOK_ATTACK, profile=profile,
                               data_root=data_root, device=device)[1]
    return configs, left_out


def _describe(config: RunConfig, store: ResultsStore) -> str:
    return (f"{MODEL_NAMES[config.arch]} on {DATASET_NAMES[config.dataset]}, f_b = {config.fb_layers} "
            f"({store.path(SUMMARY_KIND, table1_config(config))})")


def _checked(record: dict, config: RunConfig, store: ResultsStore) -> dict:
    """The record of ``config``, refused when its stored identity or arms are not the cell's."""
    wanted = to_jsonable(table1_config(config))
    arms = record["metrics"].get("arm_names")
    expected = list(cell_arms(config.resolved_profile, config.arch, config.fb_layers))
    if record["config"] != wanted or (arms is not None and list(arms) != expected):
        raise ValueError(f"{_describe(config, store)} does not hold the cell's run: its configuration or arms "
                         f"({arms}) differ from the requested ones ({expected}).")
    return record


def read_cells(configs, *, results_dir=None, run_missing: bool | None = None) -> list[dict]:
    """The ``table1`` record of each config, read by its identity (:func:`table1_config`), in order.

    A cell whose ``table1`` record is missing but whose every seed is recorded (what the book's prefetch leaves)
    is assembled from its seeds (``run_algorithm1`` reads them, trains nothing, and records the cell). A cell
    with a seed missing is a ValueError naming the cell and its file, unless ``run_missing`` (None: at the smoke
    profile only), where Algorithm 1 runs it."""
    from semirobust.experiments.table1.algorithm1 import run_algorithm1

    store, out = ResultsStore(results_dir), []
    for config in configs:
        record = store.read(SUMMARY_KIND, table1_config(config))
        if record is None:
            run = config.resolved_profile.name == "smoke" if run_missing is None else run_missing
            seeds_recorded = all(store.read(SEED_KIND, summary_config(dataclasses.replace(config, seed=config.seed + s)))
                                 for s in config.resolved_profile.seeds)
            if not (run or seeds_recorded):
                raise ValueError(f"The listed cell {_describe(config, store)} has no record in the results store, nor "
                                 "every seed of it: `make book` runs every listed cell first (its prefetch), or run "
                                 "that cell with the Table 1 notebook.")
            record = run_algorithm1(config, results_dir=results_dir, progress=False)
        out.append(_checked(record, config, store))
    return out


def stored_cells(configs, *, results_dir=None) -> tuple[list[dict], list[str]]:
    """The records of the configs that have one (read by identity, as :func:`read_cells`) and the labels of those
    that have none yet: for a page that shows the population as far as it is computed."""
    store, found, missing = ResultsStore(results_dir), [], []
    for config in configs:
        record = store.read(SUMMARY_KIND, table1_config(config))
        if record is None:
            missing.append(_describe(config, store))
        else:
            found.append(_checked(record, config, store))
    return found, missing


__all__ = ["BOOK_ATTACK", "CELL_PAGES", "Cell", "BOOK_CELLS", "derived_cells", "book_cells", "book_dataset",
           "cell_config", "page_configs", "book_configs", "figure1_page_configs", "read_cells", "stored_cells"]
