"""A rough cost estimate of a sweep's cells (what ``--dry-run`` prints): the gradient evaluations of
:func:`semirobust.cost.sweep_grad_evals`, each about 3 counted forward FLOPs, at an assumed throughput."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from semirobust.config import ARCHS, DATASET_SIZES, DATASETS, get_profile, parse_eps, parse_list
from semirobust.cost import evaluation_attack_steps, sweep_grad_evals
from semirobust.data import dataset_info
from semirobust.models import build_model
from semirobust.pipeline.grid import Cell

#: assumed sustained training throughput, FLOP/s: a single modern GPU and a single CPU core-set.
#: These are round numbers for a rough estimate, not measurements of any machine.
ASSUMED_GPU_FLOPS = 2e13
ASSUMED_CPU_FLOPS = 5e10
_FLOPS_CACHE: dict = {}


def forward_flops(arch: str, dataset: str, width: float) -> float:
    """Forward FLOPs of one image through ``build_model(arch, dataset, width)``, counted by torch's
    FlopCounterMode on the meta device (shapes only: no memory, no arithmetic)."""
    key = (arch, dataset, float(width))
    if key not in _FLOPS_CACHE:
        size = dataset_info(dataset).image_size  # outside the meta context: it may read the data
        with torch.device("meta"), torch.no_grad():
            model = build_model(arch, dataset, width=width).eval()
            with FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, 3, size, size))
        _FLOPS_CACHE[key] = float(counter.get_total_flops())
    return _FLOPS_CACHE[key]


def _algorithm1_runs(parameters: dict) -> list[tuple[str, str]] | None:
    """The (model, data set) of every Algorithm 1 run a cell does, one per f_b size: from
    ``model``/``dataset`` (Table 1) or the lists ``models``/``datasets``/``fb_sizes`` (Figures 1, 2)."""
    models = parameters.get("models", parameters.get("model"))
    datasets = parameters.get("datasets", parameters.get("dataset"))
    if models is None or datasets is None or "profile" not in parameters:
        return None
    sizes = len(parse_list(parameters["fb_sizes"], "fb_sizes")) if parameters.get("fb_sizes") is not None else 1
    pairs = [(m, d) for m in parse_list(models, "models") for d in parse_list(datasets, "datasets")]
    return pairs * sizes


def estimate_cost(parameters: dict) -> dict | None:
    """A ROUGH cost estimate of one cell running Algorithm 1 (once per model, data set and f_b size
    it names), or None when the cell names no model/data set/profile. Gradient evaluations from
    :func:`semirobust.cost.sweep_grad_evals` (the profile's own training attack, PGD-``train_attack_steps``;
    the evaluation attack's steps from :func:`semirobust.cost.evaluation_attack_steps`), each ~3F per image
    with F the counted forward FLOPs of the network: the full-network regular + adversarial training is
    shared by all runs of the same model, data set, profile and seed (it is cached); each run adds, assuming
    no trial stops early, its subnetwork training, evaluation (Acc*, Acc_sr, then after every epoch) and the
    attacked test set on which rho is measured. Converted with ASSUMED_GPU_FLOPS for the paper profile
    (GPU-hours) and ASSUMED_CPU_FLOPS otherwise (CPU-minutes). AutoAttack's step count is an upper bound
    (every image stays robust through all its sub-attacks). Compute only: small (smoke/offline) runs are
    dominated by per-batch and start-up overheads, so treat their numbers as lower bounds. Off by a factor
    of several either way; use it to size a cluster request, not as a promise.
    Returns ``{"unit", "cell": own cost, "shared": {(model, data set, profile, seed): cost}}``.
    """
    runs = _algorithm1_runs(parameters)
    if not runs or any(m not in ARCHS or d not in DATASETS for m, d in runs):
        return None
    profile = get_profile(parameters["profile"], device="cpu" if parameters["profile"] == "auto" else None)
    trials = parameters.get("trials") or profile.trials
    epochs = parameters.get("epochs") or profile.sub_epochs
    attack_steps = evaluation_attack_steps(parameters.get("attack", "autoattack"),
                                           parse_eps(parameters.get("eps", "8/255")))
    on_gpu = profile.name == "paper"
    scale, unit = (ASSUMED_GPU_FLOPS * 3600, "GPU-h") if on_gpu else (ASSUMED_CPU_FLOPS * 60, "CPU-min")
    own, shared = 0.0, {}
    for model, dataset in runs:
        counts = sweep_grad_evals(profile, dataset, trials=trials, epochs=epochs, attack_steps=attack_steps)
        step = 3 * forward_flops(model, dataset, profile.width)
        shared[(model, dataset, profile.name, parameters.get("seed", 0))] = counts["full_networks"] * step / scale
        own += counts["run"] * step / scale
    return {"unit": unit, "cell": own, "shared": shared}


def estimate_total(cells: list[Cell]) -> dict:
    """Sum of cell estimates per unit, counting each shared full-network training once."""
    totals, shared_seen = {}, set()
    for cell in cells:
        cost = estimate_cost(cell.parameters)
        if cost is None:
            continue
        add = cost["cell"] + sum(v for k, v in cost["shared"].items() if k not in shared_seen)
        shared_seen.update(cost["shared"])
        totals[cost["unit"]] = totals.get(cost["unit"], 0.0) + add
    return totals


__all__ = ["DATASET_SIZES", "ASSUMED_GPU_FLOPS", "ASSUMED_CPU_FLOPS", "forward_flops", "estimate_cost",
           "estimate_total"]
