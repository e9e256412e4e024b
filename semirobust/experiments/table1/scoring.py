"""The scoring of a seed's selected networks: each on the scored test images (:func:`score_network`, kind
``algorithm1_score``) and, once per final network, under the full standard AutoAttack
(:func:`final_autoattack_metrics`, kind ``algorithm1_autoattack``). Each score is a record of its own, so a
rerun, or another f_b cell sharing the robust network, reads it instead of attacking again."""
from __future__ import annotations

import time
import warnings

from semirobust.attacks import GradEvalCounter
from semirobust.experiments.table1.cell import SeedCell, trial_network
from semirobust.experiments.table1.configs import ALGORITHM1_VERSION, AUTOATTACK_KIND, SCORE_KIND
from semirobust.experiments.table1.evaluation import final_autoattack
from semirobust.names import ArmName


def final_autoattack_metrics(cell: SeedCell, arm_runs: dict, wanted: bool = True) -> dict:
    """Acc*, Acc~ (paper rule), Acc~ (validation-selected) and each control arm's validation-selected network
    (the profile's ``final_autoattack_arms``; None: every arm) under the full standard AutoAttack, once per final network (``profile.final_autoattack_images``); each result
    is its own record, so a rerun or another f_b cell sharing the robust network does not attack it again.
    Empty when not asked for. Where the per-epoch evaluation already is the full AutoAttack, the evaluation's
    values are returned."""
    config, profile, store, evaluation, summary = cell.config, cell.profile, cell.store, cell.evaluation, cell.summary
    n = profile.final_autoattack_images
    if n == 0 or not wanted:
        return {}
    main = arm_runs[ArmName.ALGORITHM1]
    selected, trial_hashes = main["selected"], main["hashes"]
    if config.attack == "autoattack" and profile.full_autoattack:
        return {"acc_tilde_autoattack": selected["acc_tilde"],
                "acc_tilde_unbiased_autoattack": selected["acc_tilde_unbiased"]}
    key = {"eps": float(config.eps), "images": n, "seed": config.seed, "profile_hash": summary["profile_hash"],
           "version": ALGORITHM1_VERSION}
    networks = {"acc_star_autoattack": ({"network": cell.models[1]}, lambda: cell.robust)}
    # where both rules picked the same network, its paper-rule record serves both (one attack)
    val_selection = "test" if selected.get("same_selected_network") else "val"
    rules = (("acc_tilde_autoattack", selected["best_trial"], "test"),
             ("acc_tilde_unbiased_autoattack", selected["best_val_trial"], val_selection))
    if not profile.final_autoattack_paper_rule and not selected.get("same_selected_network"):
        rules = rules[1:]  # the one Diff is validation-selected; the paper's test-selected network is not attacked
    for name, trial, selection in rules:
        networks[name] = ({"trial_record": trial_hashes[trial], "selection": selection},
                          trial_network(cell, ArmName.ALGORITHM1, trial, selection))
    wanted_arms = profile.final_autoattack_arms
    for arm, run in arm_runs.items():
        if arm != ArmName.ALGORITHM1 and (wanted_arms is None or arm in wanted_arms):
            trial = run["selected"]["best_val_trial"]
            networks[f"acc_tilde_{arm}_autoattack"] = ({"trial_record": run["hashes"][trial], "selection": "val"},
                                                       trial_network(cell, arm, trial, "val"))
    out, grad_evals, counted = {}, 0, set()
    for name, (identity, load) in networks.items():
        record = store.read(AUTOATTACK_KIND, {**key, **identity})
        if record is None:
            net = load()
            if net is None:
                warnings.warn(f"{name}: the trial's best-epoch checkpoint is gone from the cache; not attacked.",
                              UserWarning, stacklevel=2)
                out[name] = None
                continue
            counter, start = GradEvalCounter(), time.perf_counter()
            found, attack = final_autoattack(counter.attach(net), evaluation, n)
            counter.detach()
            record = store.write(AUTOATTACK_KIND, {**key, **identity}, {**found, "grad_evals": counter.count},
                                 profile=profile.name, seed=config.seed, device=evaluation.device,
                                 wall_time_s=time.perf_counter() - start, extra={"attack": attack})
        out[name] = record["metrics"]["accuracy"]
        out[f"{name}_apgd_ce"] = record["metrics"]["apgd_ce_accuracy"]
        if record["config_hash"] not in counted:
            grad_evals += record["metrics"]["grad_evals"]
            counted.add(record["config_hash"])
    return {**out, "grad_evals": grad_evals}


def score_network(cell: SeedCell, identity: dict, load) -> dict:
    """A selected network's accuracy on the scored images, read from the store or measured and recorded
    (kind ``algorithm1_score``). Returns the metrics (``accuracy`` None when the network is gone)."""
    key = {"eps": float(cell.config.eps), "attack": cell.config.attack, "images": len(cell.evaluation.scored[1]),
           "seed": cell.config.seed, "profile_hash": cell.summary["profile_hash"], "version": ALGORITHM1_VERSION,
           **identity}
    record = cell.store.read(SCORE_KIND, key)
    if record is None:
        net = load()
        if net is None:
            warnings.warn(f"{identity}: the best-epoch checkpoint is gone from the cache; not scored.", UserWarning,
                          stacklevel=2)
            return {"accuracy": None, "grad_evals": 0}
        counter, start = GradEvalCounter(), time.perf_counter()
        accuracy = cell.evaluation.scored_accuracy(counter.attach(net))
        counter.detach()
        record = cell.store.write(SCORE_KIND, key, {"accuracy": accuracy, "grad_evals": counter.count},
                                  profile=cell.profile.name, seed=cell.config.seed, device=cell.evaluation.device,
                                  wall_time_s=time.perf_counter() - start)
    return record["metrics"]


__all__ = ["final_autoattack_metrics", "score_network"]
