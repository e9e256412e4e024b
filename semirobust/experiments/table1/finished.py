"""The finished seeds of Table 1's cells, read back for the studies run after the fact (other attacks and
budgets, the cost frontier, Table S5's arms): their records, networks and selected networks."""
from __future__ import annotations

from pathlib import Path

from semirobust.config import RunConfig
from semirobust.experiments.table1.arms import initial_network
from semirobust.experiments.table1.cell import SeedCell, trial_network
from semirobust.experiments.table1.configs import ARM_KIND, SEED_KIND, summary_config, validated_config
from semirobust.experiments.table1.evaluation import Evaluation
from semirobust.models import combine_fa_fb
from semirobust.names import TrainingMode
from semirobust.results import ResultsStore
from semirobust.training import get_trained_model
from semirobust.utils import default_cache_dir


def finished_cell(config: RunConfig, store: ResultsStore, cache: Path, device, progress: bool,
                   with_evaluation: bool) -> tuple[SeedCell, dict]:
    """The cell of a finished seed (its record, networks and, when asked, its images), for the studies run
    after the fact. Raises when the seed has no record yet."""
    record = store.read(SEED_KIND, summary_config(config))
    if record is None:
        raise ValueError(f"no finished seed {config.seed} of {config.arch} f_b={config.fb_layers} on {config.dataset} "
                         "in the results store; run run_seed(config) or run_algorithm1(config) first.")
    profile = config.resolved_profile
    common = dict(profile=profile, seed=config.seed, data_root=config.data_root, device=device, cache_dir=cache,
                  progress=progress)
    regular, _ = get_trained_model(config.arch, config.dataset, mode=TrainingMode.STANDARD, **common)
    robust, _ = get_trained_model(config.arch, config.dataset, mode=TrainingMode.ADVERSARIAL, train_eps=config.eps,
                                 **common)
    evaluation = Evaluation(config, profile, device, progress) if with_evaluation else None
    random = initial_network(config.arch, config.dataset, profile.width, config.seed)
    models = tuple(record["extra"][k] for k in ("regular_model", "robust_model"))
    return SeedCell(config, profile, store, evaluation, regular, robust, random, models, summary_config(config),
                 cache), record


def final_networks(config: RunConfig, *, results_dir=None, cache_dir=None, arms=None) -> dict:
    """The final networks of one finished seed of a Table 1 cell, for evaluations after the fact (other attacks
    and budgets): ``{name: (identity, loader)}`` for ``regular``, ``robust`` (Acc*), ``semirobust`` ((f*_a, f_b),
    Acc_sr) and each arm's validation-selected network (``algorithm1`` is Acc~; ``arms``: the seed's arms and any
    later arm run by :func:`run_arms`, None: the seed's own). ``identity`` names the network in records (the
    trained networks' hashes, or the trial record and selection); a loader returns None when the checkpoint is
    gone from the cache."""
    config = validated_config(config)
    store = ResultsStore(results_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cell, record = finished_cell(config, store, cache, "cpu", False, with_evaluation=False)
    out = {"regular": ({"network": cell.models[0]}, lambda: cell.regular),
           "robust": ({"network": cell.models[1]}, lambda: cell.robust),
           "semirobust": ({"network": "semirobust", "models": list(cell.models), "fb_layers": config.fb_layers},
                          lambda: combine_fa_fb(cell.robust, cell.regular, config.fb_layers))}
    selected = dict(record["metrics"].get("arms", {}))
    for arm in [a for a in (arms or []) if a not in selected]:
        found = store.read(ARM_KIND, {**cell.summary, "arm": arm})
        if found is not None:
            selected[arm] = found["metrics"]
    for arm, chosen in selected.items():
        if arms is not None and arm not in arms:
            continue
        trial = chosen["best_val_trial"]
        out[arm] = ({"trial_record": chosen["trial_records"][trial], "selection": "val"},
                    trial_network(cell, arm, trial, "val"))
    return out


def selected_networks(config: RunConfig, *, results_dir=None, cache_dir=None) -> dict:
    """The final networks of one finished seed (see :func:`final_networks`), loaded: ``{name: network or None}``."""
    return {name: load() for name, (_, load) in final_networks(config, results_dir=results_dir,
                                                               cache_dir=cache_dir).items()}


__all__ = ["finished_cell", "final_networks", "selected_networks"]
