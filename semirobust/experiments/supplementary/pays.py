"""Does semirobustness pay? Robust accuracy against training cost for Algorithm 1 and the alternatives a user
would pick, in the primary cell of a profile (VGG16, the paper's f_b, the profile's budget).

Six ways to a robust network (:data:`METHODS`), each a curve of robust accuracy against cumulative cost:

- ``full_pgd``: PGD adversarial training of the whole network from scratch (the Acc* network's own training,
  its per-epoch weights evaluated after the fact);
- ``fast_fgsm_rs``: FGSM with random start from scratch (Wong et al., ICLR 2020), the same epochs and schedule;
- ``algorithm1_total``: Algorithm 1 with everything it needs: the full PGD training that gives f*_a, the
  regular training that gives f_b, then the trials;
- ``algorithm1_given_fa``: the same trials when a robust f*_a already exists (a robust backbone): the regular
  training of f_b and the trials;
- ``standard_fb``: frozen f*_a, standard training of f_b (robust transfer), with the regular training before it;
- ``algorithm1_fast_fa``: f_a of the FGSM-RS network frozen, PGD training of f_b: the FGSM-RS training, the
  regular training and the trials.

Robust accuracy on every point is the per-epoch attack of Algorithm 1 (APGD-CE, the profile's
``stopping_apgd_iters``) on the per-epoch test images (offline: the 1,000 scored images), so every curve is
measured alike; each method's final network is also scored with the standard APGD-CE (100 iterations) and, for
the first seed, the full standard AutoAttack. Cost is training only, counted by :func:`semirobust.cost.training_cost`
(full-network gradient evaluations: every layer pass weighted by its FLOPs, a frozen f_a's missing gradients
left out) and measured as the training wall time of each epoch. The target is the full PGD network's final
accuracy minus :data:`TARGET_MARGIN` points; a method's cost is the cost of its first point at or above the target,
relative to full PGD's own first point there (per seed, "not reached within the budget" where no point reaches it;
then the mean over the seeds that reached it, with their count and a t-interval). Verdicts compare the cost model's
counts; wall time depends on the machine's load and is shown, labelled so, but never judged.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from semirobust.config import RunConfig
from semirobust.cost import training_cost
from semirobust.data import load_dataset, train_val_split
from semirobust.experiments.table1.algorithm1 import run_arms, run_seed
from semirobust.experiments.table1.arms import ARMS, initial_network
from semirobust.experiments.table1.configs import ALGORITHM1_VERSION, SEED_KIND, summary_config
from semirobust.experiments.table1.evaluation import Evaluation, final_autoattack
from semirobust.experiments.table1.finished import final_networks
from semirobust.inference import mean_and_half
from semirobust.models import build_model, combine_fa_fb
from semirobust.names import ArmName, RecordKind, TrainingMode
from semirobust.progress import announce
from semirobust.results import ResultsStore
from semirobust.training import get_trained_model, snapshot_paths
from semirobust.utils import check_output_dir, config_hash, default_cache_dir, resolve_device

METHODS = ("full_pgd", "fast_fgsm_rs", "algorithm1_total", "algorithm1_given_fa", "standard_fb", "algorithm1_fast_fa")
LABELS = {"full_pgd": "full PGD from scratch", "fast_fgsm_rs": "FGSM-RS from scratch",
          "algorithm1_total": "Algorithm 1, everything counted", "algorithm1_given_fa": "Algorithm 1, f*_a given",
          "standard_fb": "standard f_b on f*_a, f*_a given", "algorithm1_fast_fa": "Algorithm 1 on the FGSM-RS f_a"}
#: the target is the full PGD network's final robust accuracy minus this many points
TARGET_MARGIN = 2.0
POINT_KIND = RecordKind.PAYS_POINT
SEED_CURVES_KIND = RecordKind.PAYS_SEED
FINAL_KIND = RecordKind.PAYS_FINAL
PAYS_VERSION = "1"


# ---------------------------------------------------------------- curves and their reading (pure functions)


def first_reach(curve: list[dict], target: float, key: str = "cost") -> float | None:
    """``key`` (cost or wall time) of the first point of ``curve`` (in cost order) at or above ``target``; None
    when no point reaches it."""
    for point in sorted(curve, key=lambda p: p["cost"]):
        if point["acc"] >= target:
            return float(point[key])
    return None


def frontier(curve: list[dict]) -> list[dict]:
    """The best robust accuracy reached at or below each point's cost (a running maximum in cost order): what a
    user stopping at that cost could have kept. Monotone in cost by construction."""
    out, best = [], -np.inf
    for point in sorted(curve, key=lambda p: p["cost"]):
        best = max(best, point["acc"])
        out.append({**point, "acc": float(best)})
    return out


def cost_ratios(seed_curves: list[dict], method: str, key: str = "cost") -> list[float | None]:
    """Per seed: ``method``'s ``key`` (cost or wall) to first reach the seed's target over full PGD's own."""
    ratios = []
    for seed in seed_curves:
        own = first_reach(seed["curves"][method], seed["target"], key)
        base = first_reach(seed["curves"]["full_pgd"], seed["target"], key)
        ratios.append(None if own is None or not base else own / base)
    return ratios


def summarize_method(seed_curves: list[dict], method: str, seeds: list | None = None) -> dict:
    """Cost and wall-time ratios of ``method`` per seed (None: not reached within the budget), ``reached`` the
    count of seeds that reached the target, and the mean over those seeds with its 95% t-half-width (None with
    one such seed: no interval; the mean is None only when no seed reached it). ``costs``: the cost model's count
    to the target per seed (gradient evaluations). ``seeds`` labels the seeds (0, 1, ... when not given)."""
    seeds = list(range(len(seed_curves))) if seeds is None else list(seeds)
    out = {"method": method, "seeds": len(seed_curves), "seed_labels": seeds,
           "costs": [first_reach(seed["curves"][method], seed["target"]) for seed in seed_curves]}
    for key in ("cost", "wall"):
        ratios = cost_ratios(seed_curves, method, key)
        reached = [r for r in ratios if r is not None]
        out[f"{key}_ratios"], out["reached"] = ratios, len(reached)
        mean, half = mean_and_half(reached)
        out[f"{key}_ratio"], out[f"{key}_ratio_ci"] = (float(mean), half) if reached else (None, None)
    out["missed_seeds"] = [label for label, r in zip(seeds, out["cost_ratios"]) if r is None]
    return out


def ratio_text(summary: dict, key: str = "cost") -> str:
    """``0.42 ± 0.05`` (relative to full PGD, every seed reached the target), ``0.42 ± 0.05 in the 2 of 3 seeds
    that reached it``, or ``not reached`` (no seed did, within the budget)."""
    value, half = summary[f"{key}_ratio"], summary[f"{key}_ratio_ci"]
    if value is None:
        return "not reached"
    text = f"{value:.2f}" + (f" ± {half:.2f}" if half is not None else "")
    if summary["reached"] < summary["seeds"]:
        text += f" in the {summary['reached']} of {summary['seeds']} seeds that reached it"
    return text


def per_seed_text(summary: dict, key: str = "cost") -> list[str]:
    """Per seed, the ratio to full PGD (``0.42``) or ``not reached within the budget``."""
    return ["not reached within the budget" if r is None else f"{r:.2f}" for r in summary[f"{key}_ratios"]]


def reached_text(summary: dict) -> str:
    """``2/3``: the seeds that reached the target over the seeds run."""
    return f"{summary['reached']}/{summary['seeds']}"


def method_reading(summary: dict) -> tuple[str, str]:
    """What the cost-model ratios of one method say, and its verdict: ``yes`` (every seed reached the target and
    the interval lies below full PGD's cost), ``cheaper where reached`` (the interval over the seeds that reached
    it lies below, but some seeds did not reach it within the budget), ``costlier`` (the interval lies above),
    ``never`` (no seed reached it within the budget) or ``undecided`` (no interval, or one that covers 1)."""
    s = summary
    if s["reached"] == 0:
        return "never reached the target within the budget", "never"
    partial = s["reached"] < s["seeds"]
    where = f"at {s['cost_ratio']:.2f}" + (f" ± {s['cost_ratio_ci']:.2f}" if s["cost_ratio_ci"] is not None else "") \
        + " of full PGD's cost"
    if partial:
        per_seed = ", ".join(f"seed {label} {text}" for label, text in zip(s["seed_labels"], per_seed_text(s)))
        where += f" in the {s['reached']} of {s['seeds']} seeds that reached it (per seed: {per_seed})"
    if s["cost_ratio_ci"] is None:
        return f"reached the target {where} (one seed: no interval)", "undecided"
    low, high = s["cost_ratio"] - s["cost_ratio_ci"], s["cost_ratio"] + s["cost_ratio_ci"]
    if high < 1:
        return ((f"is cheaper where it reaches the target: {where}", "cheaper where reached") if partial
                else (f"reached the target {where}", "yes"))
    if low > 1:
        return f"reached the target only {where}", "costlier"
    return f"reached the target {where}, an interval that covers full PGD's cost", "undecided"


def pays_verdict(summaries: dict) -> tuple[str, str]:
    """One sentence on whether semirobust training pays, and in which case, from the cost model's ratios (wall
    time, confounded by the machine's load, is left out): a method pays when it reaches the target in every seed
    and its whole interval lies below full PGD's cost (1.0); one that reaches it in some seeds only is "cheaper
    where it reaches the target" when the interval over those seeds lies below, and is told apart from one that
    never reaches it. Returns the sentence and the status (confirmed / not confirmed / undecided) of the paper's
    motivation, that training the subnetwork costs less: confirmed on "yes", not confirmed when Algorithm 1 with
    f*_a given costs more or never reaches the target, undecided otherwise (some seeds short of the target
    included: a short budget is not a cost)."""
    given, given_pays = method_reading(summaries["algorithm1_given_fa"])
    total, total_pays = method_reading(summaries["algorithm1_total"])
    fast, fast_pays = method_reading(summaries["fast_fgsm_rs"])
    fast_fa, _ = method_reading(summaries["algorithm1_fast_fa"])
    transfer, _ = method_reading(summaries["standard_fb"])
    if given_pays == "yes" and total_pays != "yes":
        lead = "Semirobust training pays only when a robust f*_a is already at hand"
    elif given_pays == "yes" and total_pays == "yes":
        lead = "Semirobust training pays, even counting the robust f*_a it needs"
    elif given_pays == "cheaper where reached":
        lead = ("Semirobust training is cheaper where it reaches the target, but it did not reach it in every seed "
                "within the trial budget")
    elif given_pays == "costlier":
        lead = "Semirobust training does not pay here, not even with a robust f*_a at hand"
    elif given_pays == "never":
        lead = "Semirobust training never reached the target within the trial budget here"
    else:
        lead = "Whether semirobust training pays is undecided at this power"
    sentence = (f"{lead} (costs counted by the cost model): with f*_a given, Algorithm 1 {given}; counting the "
                f"full adversarial training that gives f*_a, it {total}. FGSM-RS from scratch {fast}; Algorithm 1 "
                f"on the FGSM-RS f_a {fast_fa}; standard training of f_b on f*_a {transfer}.")
    status = {"yes": "confirmed", "costlier": "not confirmed", "never": "not confirmed"}.get(given_pays, "undecided")
    if total_pays in ("costlier", "never") and fast_pays == "yes":
        sentence += " A user without a robust backbone saves more with FGSM-RS than with Algorithm 1."
    return sentence, status


# ---------------------------------------------------------------- runs


def _point(store: ResultsStore, evaluation: Evaluation, key: dict, load) -> float:
    """A network's robust accuracy under the per-epoch attack on the per-epoch test images, read or measured."""
    key = {**key, "images": int(len(evaluation.eval[1])), "eps": float(evaluation.config.eps),
           "iters": evaluation.profile.stopping_apgd_iters, "version": PAYS_VERSION}
    record = store.read(POINT_KIND, key)
    if record is None:
        start = time.perf_counter()
        acc = evaluation.adversarial_accuracy(load())
        record = store.write(POINT_KIND, key, {"acc": acc}, profile=evaluation.profile.name,
                             seed=evaluation.config.seed, device=evaluation.device, wall_time_s=time.perf_counter() - start)
    return float(record["metrics"]["acc"])


def _network_curve(store, evaluation, info: dict, arch: str, dataset: str, width: float,
                   epoch_cost: float, initial) -> list[dict]:
    """The curve of a network trained from scratch: its initialisation, then every epoch's kept weights."""
    snapshots = snapshot_paths(info["path"])
    history = info["history"]
    if len(snapshots) != len(history):
        raise ValueError(f"{info['path']}: {len(snapshots)} per-epoch weights for {len(history)} epochs; delete the "
                         "cached network to retrain it with its weights kept.")

    def loader(path):
        def load():
            net = build_model(arch, dataset, width=width)
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return net.eval()
        return load

    curve = [{"epoch": 0, "cost": 0.0, "wall": 0.0,
              "acc": _point(store, evaluation, {"network": info["config_hash"], "epoch": 0}, lambda: initial)}]
    wall = 0.0
    for epoch, (path, h) in enumerate(zip(snapshots, history), 1):
        wall += h["time_s"]
        curve.append({"epoch": epoch, "cost": epoch * epoch_cost, "wall": wall,
                      "acc": _point(store, evaluation, {"network": info["config_hash"], "epoch": epoch}, loader(path))})
    return curve


def _trial_curve(arm_metrics: dict, start_acc: float, cost_offset: float, wall_offset: float,
                 epoch_cost: float) -> list[dict]:
    """Cost-robustness points of an arm's trials, one after the other (trial t starts where t - 1 ended): the
    starting network's accuracy, then each epoch's accuracy on the per-epoch test images."""
    curve = [{"epoch": 0, "cost": cost_offset, "wall": wall_offset, "acc": float(start_acc)}]
    cost, wall, epoch = cost_offset, wall_offset, 0
    for trial in arm_metrics["trials"]:
        for point in trial["curve"]:
            epoch += 1
            cost += epoch_cost
            wall += point["time_s"]
            curve.append({"epoch": epoch, "cost": cost, "wall": wall, "acc": float(point["adv_acc"])})
    return curve


def _history_wall(info: dict) -> float:
    return float(sum(h["time_s"] for h in info["history"]))


def run_pays_seed(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> dict:
    """The six curves of one seed (``config.seed``) of the primary cell: runs the seed first where it has no
    record, trains the FGSM-RS network (per-epoch weights kept), runs the ``fast_fa`` arm, evaluates every point
    and the final networks; everything is recorded (kind ``pays_seed`` for the curves), so a rerun reads it."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a semirobust.config.RunConfig, got {type(config).__name__}.")
    store = ResultsStore(results_dir)
    identity = {**summary_config(config), "pays_version": PAYS_VERSION}
    existing = store.read(SEED_CURVES_KIND, identity)
    if existing is not None:
        return existing
    t0 = time.perf_counter()
    cache = check_output_dir(Path(cache_dir) if cache_dir is not None else default_cache_dir(), "cache_dir")
    check_output_dir(store.root, "results_dir")
    seed_record = store.read(SEED_KIND, summary_config(config)) or run_seed(config, results_dir=results_dir,
                                                                           cache_dir=cache, progress=progress)
    profile, device = config.resolved_profile, resolve_device(config.device)
    common = dict(profile=profile, seed=config.seed, data_root=config.data_root, device=device, cache_dir=cache,
                  progress=progress)
    regular, regular_info = get_trained_model(config.arch, config.dataset, mode=TrainingMode.STANDARD, **common)
    robust, robust_info = get_trained_model(config.arch, config.dataset, mode=TrainingMode.ADVERSARIAL,
                                            train_eps=config.eps, **common)
    fast, fast_info = get_trained_model(config.arch, config.dataset, mode=TrainingMode.FGSM_RS, train_eps=config.eps,
                                        **common)
    arms = run_arms(config, [ArmName.FAST_FA], results_dir=results_dir, cache_dir=cache, progress=progress,
                    sources={"fgsm_rs": fast})
    evaluation = Evaluation(config, profile, device, progress)
    train_set, _ = train_val_split(load_dataset(config.dataset, "train", root=config.data_root,
                                                subset=profile.train_subset, seed=config.seed),
                                   profile.val_fraction, config.seed)
    n, steps, fb = len(train_set), profile.train_attack_steps, config.fb_layers

    def per_epoch(mode, fb_layers):
        return training_cost(robust, mode, fb_layers, n, steps)

    standard, adversarial, fgsm_rs = TrainingMode.STANDARD, TrainingMode.ADVERSARIAL, TrainingMode.FGSM_RS
    regular_cost = len(regular_info["history"]) * per_epoch(standard, None)
    robust_cost = len(robust_info["history"]) * per_epoch(adversarial, None)
    fast_cost = len(fast_info["history"]) * per_epoch(fgsm_rs, None)
    regular_wall, robust_wall, fast_wall = map(_history_wall, (regular_info, robust_info, fast_info))
    initial = initial_network(config.arch, config.dataset, profile.width, config.seed)
    curves = {"full_pgd": _network_curve(store, evaluation, robust_info, config.arch, config.dataset,
                                         profile.width, per_epoch(adversarial, None), initial),
              "fast_fgsm_rs": _network_curve(store, evaluation, fast_info, config.arch, config.dataset,
                                             profile.width, per_epoch(fgsm_rs, None), initial)}
    seed_arms = seed_record["metrics"]["arms"]
    sr_acc = _point(store, evaluation, {"network": "semirobust", "models": [regular_info["config_hash"],
                                                                            robust_info["config_hash"]], "fb_layers": fb},
                    lambda: combine_fa_fb(robust, regular, fb))
    fast_sr_acc = _point(store, evaluation, {"network": "semirobust", "models": [regular_info["config_hash"],
                                                                                 fast_info["config_hash"]], "fb_layers": fb},
                         lambda: combine_fa_fb(fast, regular, fb))
    adversarial_fb = per_epoch(adversarial, fb)
    curves["algorithm1_total"] = _trial_curve(seed_arms["algorithm1"], sr_acc, regular_cost + robust_cost,
                                              regular_wall + robust_wall, adversarial_fb)
    curves["algorithm1_given_fa"] = _trial_curve(seed_arms["algorithm1"], sr_acc, regular_cost, regular_wall,
                                                 adversarial_fb)
    if "standard_fb" in seed_arms:
        curves["standard_fb"] = _trial_curve(seed_arms["standard_fb"], sr_acc, regular_cost, regular_wall,
                                             per_epoch(ARMS[ArmName.STANDARD_FB].mode, fb))
    curves["algorithm1_fast_fa"] = _trial_curve(arms["fast_fa"], fast_sr_acc, regular_cost + fast_cost,
                                                regular_wall + fast_wall, adversarial_fb)
    finals = _final_points(config, store, evaluation, seed_record, arms["fast_fa"], fast, fast_info, cache,
                           results_dir)
    target = curves["full_pgd"][-1]["acc"] - TARGET_MARGIN
    metrics = {"curves": curves, "target": target, "finals": finals, "train_images": n,
               "epoch_costs": {"regular": per_epoch(standard, None), "full_pgd": per_epoch(adversarial, None),
                               "fast_fgsm_rs": per_epoch(fgsm_rs, None), "pgd_fb": adversarial_fb,
                               "standard_fb": per_epoch(standard, fb)},
               "networks": {"regular": regular_info["config_hash"], "robust": robust_info["config_hash"],
                            "fgsm_rs": fast_info["config_hash"]}}
    record = store.write(SEED_CURVES_KIND, identity, metrics, profile=profile.name, seed=config.seed, device=device,
                         wall_time_s=time.perf_counter() - t0,
                         extra={"per_epoch_attack": evaluation.epoch_attack(robust).describe(),
                                "eval_images": int(len(evaluation.eval[1])), "algorithm1_version": ALGORITHM1_VERSION})
    announce(f"cost frontier {config.arch} seed {config.seed}: target {target:.1f}%, FGSM-RS final "
             f"{curves['fast_fgsm_rs'][-1]['acc']:.1f}%, Algorithm 1 on the FGSM-RS f_a "
             f"{curves['algorithm1_fast_fa'][-1]['acc']:.1f}% in {record['wall_time_s']:.0f} s")
    return record


def _final_points(config, store, evaluation, seed_record, fast_fa, fast, fast_info, cache, results_dir) -> dict:
    """Each method's final network under the standard APGD-CE on the scored images and, for the profile's first
    ``final_autoattack_seeds`` seeds, the full standard AutoAttack on the final images (the seed's own networks
    from its record, the FGSM-RS network and the ``fast_fa`` arm's validation-selected network measured here)."""
    m = seed_record["metrics"]
    out = {"full_pgd": {"score": m["acc_star"], "autoattack": m.get("acc_star_autoattack")},
           "algorithm1": {"score": m["acc_tilde_unbiased"], "autoattack": m.get("acc_tilde_unbiased_autoattack")}}
    if "standard_fb" in m["arms"]:
        out["standard_fb"] = {"score": m.get("acc_tilde_standard_fb"), "autoattack": m.get("acc_tilde_standard_fb_autoattack")}
    profile = config.resolved_profile
    seeds = list(profile.seeds)
    limit = profile.final_autoattack_seeds
    wanted = profile.final_autoattack_images != 0 and (limit is None or (config.seed in seeds and seeds.index(config.seed) < limit))
    networks = {"fast_fgsm_rs": ({"network": fast_info["config_hash"]}, lambda: fast),
                "algorithm1_fast_fa": final_networks(config, results_dir=results_dir, cache_dir=cache,
                                                     arms=[ArmName.FAST_FA])[ArmName.FAST_FA]}
    for name, (identity, load) in networks.items():
        key = {**identity, "eps": float(config.eps), "seed": config.seed, "version": PAYS_VERSION,
               "profile_hash": config_hash(profile.algorithm1_dict())}
        entry = {}
        score = store.read(FINAL_KIND, {**key, "what": "score", "images": int(len(evaluation.scored[1]))})
        if score is None:
            start = time.perf_counter()
            score = store.write(FINAL_KIND, {**key, "what": "score", "images": int(len(evaluation.scored[1]))},
                                {"accuracy": evaluation.scored_accuracy(load())}, profile=profile.name, seed=config.seed,
                                device=evaluation.device, wall_time_s=time.perf_counter() - start)
        entry["score"] = score["metrics"]["accuracy"]
        if wanted:
            n = profile.final_autoattack_images
            aa = store.read(FINAL_KIND, {**key, "what": "autoattack", "images": n})
            if aa is None:
                start = time.perf_counter()
                found, attack = final_autoattack(load(), evaluation, n)
                aa = store.write(FINAL_KIND, {**key, "what": "autoattack", "images": n}, found, profile=profile.name,
                                 seed=config.seed, device=evaluation.device, wall_time_s=time.perf_counter() - start,
                                 extra={"attack": attack})
            entry["autoattack"] = aa["metrics"]["accuracy"]
        out[name] = entry
    out["algorithm1_fast_fa"]["acc_tilde_paper_rule"] = fast_fa["acc_tilde"]
    return out


def pays_configs(config: RunConfig) -> list[RunConfig]:
    """One config per seed of the profile's ``pays_seeds``."""
    return [dataclasses.replace(config, seed=config.seed + s) for s in config.resolved_profile.pays_seeds]


def run_pays(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> list[dict]:
    """:func:`run_pays_seed` for every seed of the profile's ``pays_seeds`` (each recorded and reused)."""
    return [run_pays_seed(c, results_dir=results_dir, cache_dir=cache_dir, progress=progress)
            for c in pays_configs(config)]


def summaries(records: list[dict]) -> dict:
    """:func:`summarize_method` of every method over the seeds' records."""
    seed_curves = [r["metrics"] for r in records]
    seeds = [r.get("seed", i) for i, r in enumerate(records)]
    return {method: summarize_method(seed_curves, method, seeds) for method in METHODS
            if all(method in s["curves"] for s in seed_curves)}


__all__ = ["METHODS", "LABELS", "TARGET_MARGIN", "POINT_KIND", "SEED_CURVES_KIND", "FINAL_KIND", "PAYS_VERSION",
           "first_reach", "frontier", "cost_ratios", "summarize_method", "ratio_text", "per_seed_text", "reached_text",
           "method_reading", "pays_verdict",
           "run_pays_seed", "pays_configs", "run_pays", "summaries"]
