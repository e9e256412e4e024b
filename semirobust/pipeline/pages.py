"""The book's results pages, in one registry: what each page is, what it reads, and how the build treats it.

One :class:`Page` per source notebook in ``notebooks/`` and per ``results/<name>`` entry of ``_toc.yml``
(``book/_toc.yml`` is a link to it), in :data:`PAGES` in build order. The book pipeline
(:mod:`semirobust.pipeline.book`), the prefetch of Algorithm 1's seeds and studies
(:mod:`semirobust.pipeline.prefetch`) and the status page and summary (:mod:`semirobust.pipeline.status`) read it;
``tests/test_pages.py`` checks it against the table of contents and the notebooks. A new page (a Table S6, say)
is its notebook, its toc entry and one :class:`Page` here.

This is the one module of the pipeline that names the experiments' record kinds and studies.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from semirobust.experiments.supplementary import budgets, pays, table_s5
from semirobust.experiments.table1 import configs as table1_configs
from semirobust.names import RecordKind, parse_choice


@dataclass(frozen=True)
class Study:
    """A study run on finished seeds of the primary cell after Algorithm 1; the book prefetches its seeds.

    ``run(config, results_dir=, cache_dir=, progress=)`` records one seed; ``configs(primary)`` gives the
    profile's seeds of the primary cell's config."""

    name: str
    run: Callable
    configs: Callable


@dataclass(frozen=True)
class Page:
    """One results page: ``notebooks/<name>.ipynb`` executed into ``book/results/<name>.ipynb``."""

    name: str
    #: plain link text (the notebooks' titles hold math, which a link would show as raw LaTeX)
    link: str
    #: position in the book's reading order: the summary lists the glued claims, the status page the records, in it
    reading: int
    #: (record kind, label of its rows on the status page): the records that hold this page's results; each kind
    #: belongs to one page, and the finer records they are built from (trials, scores, points) are not listed
    kinds: tuple[tuple[RecordKind, str], ...] = ()
    #: the studies on Algorithm 1's seeds this page reads, prefetched with the seeds
    studies: tuple[Study, ...] = ()
    #: whether the page runs Algorithm 1's seeds (prefetched in parallel before the notebooks execute)
    algorithm1: bool = False
    #: the profile field naming this page's data set where the profile sets one ("theory_dataset": a theory page,
    #: "figure2_dataset"); None: the book's data set
    profile_dataset: str | None = None
    #: files of ``semirobust/data_files/`` the page reads (the paper's reported numbers it sets beside its own)
    data_files: tuple[str, ...] = ()

    def __post_init__(self):  # each kind a RecordKind: a misspelt one is an error naming the kinds, at import
        object.__setattr__(self, "kinds", tuple((parse_choice("record kind", kind, RecordKind), label)
                                                for kind, label in self.kinds))

    @property
    def toc(self) -> str:
        """The page's entry in ``_toc.yml`` (relative to ``book/``)."""
        return f"results/{self.name}"


_BUDGETS = Study("budgets", budgets.run_budget_seed, budgets.budget_configs)
_PAYS = Study("pays", pays.run_pays_seed, pays.pays_configs)
_TABLE_S5 = Study("table_s5", table_s5.run_table_s5_seed, table_s5.table_s5_configs)

#: the results pages in build order (cheap first; later ones reuse the training cache)
PAGES = (
    Page("mi_estimator", "the rho estimator", 7, kinds=((RecordKind.MI_ESTIMATOR, "EDGE validation"),)),
    Page("table1", "Table 1", 2, kinds=((table1_configs.SUMMARY_KIND, "Table 1 row"),), algorithm1=True,
         data_files=("reported_supplementary.csv",)),
    Page("figure2", "Figure 2", 5, algorithm1=True, profile_dataset="figure2_dataset"),
    Page("figure1", "Figure 1", 4, algorithm1=True),
    Page("budgets", "attacks and budgets", 3, kinds=((budgets.KIND, "Attack and budget"),), studies=(_BUDGETS,),
         algorithm1=True),
    Page("pays", "does semirobustness pay?", 6, kinds=((pays.SEED_CURVES_KIND, "Cost curves of a seed"),),
         studies=(_PAYS, _TABLE_S5), algorithm1=True, data_files=("reported_table_s5.csv",)),
    Page("theorem3_linear", "Theorem 3", 0, kinds=((RecordKind.THEOREM3, "Theorem 3 / Algorithm S1"),),
         profile_dataset="theory_dataset", data_files=("reported_table_s1.csv",)),
    Page("weight_bound", "Section 2.2 bound", 1, kinds=((RecordKind.WEIGHT_BOUND, "Section 2.2 bounds"),),
         profile_dataset="theory_dataset"),
    Page("efficiency", "efficiency", 8),
)
#: the page names in build order
NOTEBOOKS = tuple(page.name for page in PAGES)
#: the pages in the book's reading order
READING_ORDER = tuple(sorted(PAGES, key=lambda page: page.reading))
#: every prefetched study by name, in build order
STUDIES = {study.name: study for page in PAGES for study in page.studies}


def data_files(name: str) -> tuple[str, ...]:
    """The data files page ``name`` reads; none for a notebook that is not a registered page (a test's)."""
    return next((candidate.data_files for candidate in PAGES if candidate.name == name), ())


def page(name: str) -> Page:
    """The registered page ``name``; a ValueError names the registered ones."""
    for candidate in PAGES:
        if candidate.name == name:
            return candidate
    raise ValueError(f"notebook={name!r} is not a registered page; expected one of {list(NOTEBOOKS)}.")


__all__ = ["Study", "Page", "PAGES", "NOTEBOOKS", "READING_ORDER", "STUDIES", "data_files", "page"]
