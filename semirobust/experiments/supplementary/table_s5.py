"""Table S5 of the supplementary, run: Algorithm 1 with ATTA and TRADES training of f_b beside the seed's own
PGD arm, on finished seeds of the primary cell (the arms are :data:`~semirobust.experiments.table1.arms.TABLE_S5_ARMS`,
run by :func:`~semirobust.experiments.table1.algorithm1.run_arms`). The page's table is
:mod:`semirobust.experiments.supplementary.table_s5_report`."""
from __future__ import annotations

import dataclasses

from semirobust.config import RunConfig
from semirobust.experiments.table1.algorithm1 import run_arms
from semirobust.experiments.table1.arms import TABLE_S5_ARMS
from semirobust.experiments.table1.configs import SEED_KIND, summary_config
from semirobust.names import ArmName
from semirobust.results import ResultsStore


def table_s5_configs(config: RunConfig) -> list[RunConfig]:
    return [dataclasses.replace(config, seed=config.seed + s) for s in config.resolved_profile.table_s5_seeds]


def run_table_s5_seed(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> dict:
    """Table S5's arms (ATTA and TRADES training of f_b on the frozen f*_a) of one finished seed, with the seed's
    own PGD arm: ``{method: arm metrics}`` for the profile's ``table_s5_methods``."""
    methods = config.resolved_profile.table_s5_methods
    extra = [TABLE_S5_ARMS[m] for m in methods if TABLE_S5_ARMS[m] != ArmName.ALGORITHM1]
    arms = run_arms(config, extra, results_dir=results_dir, cache_dir=cache_dir, progress=progress)
    record = ResultsStore(results_dir).read(SEED_KIND, summary_config(config))
    arms[ArmName.ALGORITHM1] = record["metrics"]["arms"][ArmName.ALGORITHM1]
    return {m: arms[TABLE_S5_ARMS[m]] for m in methods}


__all__ = ["table_s5_configs", "run_table_s5_seed"]
