"""Algorithm 1 of the paper (learning rho), as the supplementary runs it.

For one :class:`~semirobust.config.RunConfig` (network, data set, evaluation attack, eps, f_b size,
T trials, E epochs, k):

1. regular and adversarial training of the full network (PGD at the evaluation eps with the profile's
   ``train_attack_steps``: PGD-10 at the paper profile), giving (f_a, f_b) and (f*_a, f*_b); both are
   cached (:func:`semirobust.training.get_trained_model`);
2. Acc* = adversarial test accuracy of (f*_a, f*_b) and Acc_sr = that of the semirobust
   network (f*_a, f_b), under the *evaluation* attack (``config.attack`` at ``config.eps``);
3. T trials; trial t starts again from (f*_a, f_b), adversarially trains f_b (the same PGD, f*_a
   frozen, seed ``seed + t``) for up to E epochs and stops as soon as Acc* - Acc <= k, where Acc
   is the adversarial **test** accuracy after the epoch under the evaluation attack on
   ``profile.eval_subset`` test images. (The paper's prose says "training accuracy", but its
   algorithm box and tables use the test accuracy, and a training-set criterion would mix the
   PGD training attack with the evaluation attack; we follow the tables.) Then
   I_{j,t} = sum_y pi(y) I(f^(j-1); f^(j) | y) is measured between every pair of consecutive
   trainable layers from the last layer of f*_a to the output of f_b (``|f_b|`` pairs, rho_{a+1}
   .. rho_n), on ``profile.rho_samples`` test images attacked by the evaluation attack against
   the trial's final network;
4. Acc~ = the highest final accuracy over the trials (the network each trial ends with, on
   which rho is measured), Diff = Acc~ - Acc*. A trial *converged* when Acc* - Acc <= k.
   rho follows the supplementary's captions (Tables S2-S4): the lowest I_{j,t} among the trials
   that converged; if none converged, the largest over all trials. The rho of the best trial
   (the main text's wording) is recorded as well (``rho_best_trial``).

The images and the evaluation attack are :mod:`semirobust.experiments.table1.evaluation`'s: after each epoch
AutoAttack runs only its first attack, APGD-CE with the standard settings, unless the profile asks for
``full_autoattack``; the full standard AutoAttack then runs once per final network. Every record names
the evaluation attack it used (``extra["eval_attack"]``); its gradient evaluations are counted
(``grad_evals``) beside the authors' procedure (:func:`semirobust.cost.authors_grad_evals`).

The full networks' accuracies (Acc, Acc*) are recorded once per pair of trained networks (kind
``algorithm1_reference``) and shared by every f_b size. Every finished trial is written to the
results store (kind ``algorithm1_trial``), so an interrupted run resumes at the next trial, and a
trial interrupted mid-way resumes from its last epoch (checkpoint under the cache folder). Each seed is
written as kind ``table1_seed`` (:func:`_run_seed`: reference networks, trials, record) and the cell's
summary over its seeds as kind ``table1``, which :mod:`semirobust.experiments.table1.report` turns into Table 1.
"""
from __future__ import annotations

import copy
import dataclasses
import shutil
import time
import warnings
from pathlib import Path

import torch

from semirobust.attacks import GradEvalCounter
from semirobust.config import RunConfig, parse_list
from semirobust.cost import authors_grad_evals
from semirobust.cuts import arch_cut_note
from semirobust.data import load_dataset, train_val_split
from semirobust.experiments.table1.arms import ARMS, cell_arms, initial_network, start_network
from semirobust.experiments.table1.cell import SeedCell, trial_network
from semirobust.experiments.table1.configs import (
    ARM_KIND,
    REFERENCE_KIND,
    SEED_KIND,
    SUMMARY_KIND,
    TRIAL_KIND,
    reference_config,
    summary_config,
    table1_config,
    trial_config,
    validated_config,
)
from semirobust.experiments.table1.evaluation import Evaluation, best_checkpoint
from semirobust.experiments.table1.finished import finished_cell
from semirobust.experiments.table1.scoring import final_autoattack_metrics, score_network
from semirobust.experiments.table1.selection import (
    AGGREGATED,
    aggregate_pairs,
    aggregate_seeds,
    best_epoch,
    summarize_trials,
)
from semirobust.models import combine_fa_fb
from semirobust.names import ArmName, TrainingMode, parse_choices
from semirobust.progress import (
    Countdown,
    algorithm1_countdown,
    announce,
    autoattack_unit,
    network_unit,
    scores_unit,
    trial_unit,
)
from semirobust.results import ResultsStore
from semirobust.training import get_trained_model, train, train_attack
from semirobust.utils import check_output_dir, config_hash, default_cache_dir, resolve_device


def _run_trial(trial: int, arm: ArmName, cell: SeedCell, acc_star_val: float, train_set, checkpoint_dir: Path,
               counter, progress: bool, method_state: dict | None = None) -> tuple[dict, dict | None]:
    """One trial of ``arm``: from the arm's starting network (f_a from its source, f_b regular), training of
    f_b (of the whole network for full fine-tuning) adversarially or, for ``standard_fb``, without an attack,
    evaluated after every epoch on the validation and the per-epoch test images; stops when the validation
    accuracy is within k of Acc* (on validation); rho on the trial's best-test-epoch network (the paper's box).
    ``method_state``: what the seed's previous trial's training method ended with (ATTA's carried
    perturbations). Returns the trial's metrics and its own training method's end state."""
    config, profile, evaluation = cell.config, cell.profile, cell.evaluation
    spec = ARMS[arm]
    model = counter.attach(start_network(spec, config.fb_layers, regular=cell.regular, robust=cell.robust,
                                         random=cell.random, **cell.sources))
    best = {"test": (-1.0, None), "val": (-1.0, None)}

    def eval_fn(net, epoch):
        test_acc, val_acc = evaluation.adversarial_accuracy(net), evaluation.val_accuracy(net)
        for key, value in (("test", test_acc), ("val", val_acc)):
            if value > best[key][0]:
                best[key] = (value, copy.deepcopy(net.state_dict()))
        return {"adv_acc": test_acc, "val_acc": val_acc}

    def stop_fn(history):
        return acc_star_val - history[-1]["val_acc"] <= config.k

    result = train(model, train_set, profile=profile, mode=spec.mode, fb_layers=None if spec.train_fa else config.fb_layers,
                   epochs=config.resolved_epochs, device=evaluation.device, seed=config.seed + trial,
                   checkpoint_dir=checkpoint_dir, eval_fn=eval_fn, stop_fn=stop_fn, progress=progress,
                   train_eps=config.eps, lr=profile.trial_lr, constant_lr=profile.trial_lr is not None,
                   method_state=method_state)
    curve = result.history
    if best["test"][1] is None:  # resumed after the last epoch: rebuild the best states from the curve
        best = {"test": (0.0, result.model.state_dict()), "val": (0.0, result.model.state_dict())}
    i_test, i_val = best_epoch(curve, "adv_acc"), best_epoch(curve, "val_acc")
    model.load_state_dict(best["test"][1])
    rho, rho_pairs = evaluation.rhos(model)
    torch.save(best["test"][1], best_checkpoint(checkpoint_dir, "test"))
    torch.save(best["val"][1], best_checkpoint(checkpoint_dir, "val"))
    acc = curve[i_test]["adv_acc"]
    return {"trial": trial, "arm": arm, "acc": acc, "best_epoch": i_test + 1, "val_acc": curve[i_val]["val_acc"],
            "val_best_epoch": i_val + 1, "test_at_val": curve[i_val]["adv_acc"], "epochs_run": result.epochs_run,
            "converged": acc_star_val - curve[-1]["val_acc"] <= config.k, "stopped_early": result.stopped_early,
            "rho": rho, "rho_pairs": rho_pairs, "carried_method_state": method_state is not None,
            "curve": [{key: h[key] for key in ("epoch", "adv_acc", "val_acc", "train_loss", "train_acc", "lr", "time_s")}
                      for h in curve]}, result.method_state


def _reference_networks(config: RunConfig, store: ResultsStore, cache: Path, progress: bool,
                        summary: dict, countdown: Countdown) -> tuple[SeedCell, dict, dict]:
    """Step 1 of a seed: the regular and the robust network (trained, or read from the cache), the run's images,
    and the full networks' accuracies (Acc, Acc*; measured once per network pair: they do not depend on f_b).
    Returns the cell, the reference record and the two networks' training wall times."""
    profile = config.resolved_profile
    device = resolve_device(config.device)
    common = dict(profile=profile, seed=config.seed, data_root=config.data_root, device=device, cache_dir=cache,
                  progress=progress)
    regular, regular_info = countdown.timed(network_unit(config.seed, "regular"), lambda: get_trained_model(
        config.arch, config.dataset, mode=TrainingMode.STANDARD, **common), cached=lambda out: out[1]["from_cache"])
    robust, robust_info = countdown.timed(network_unit(config.seed, "robust"), lambda: get_trained_model(
        config.arch, config.dataset, mode=TrainingMode.ADVERSARIAL, train_eps=config.eps, **common),
        cached=lambda out: out[1]["from_cache"])
    evaluation = Evaluation(config, profile, device, progress)
    models = (regular_info["config_hash"], robust_info["config_hash"])
    random = initial_network(config.arch, config.dataset, profile.width, config.seed)
    cell = SeedCell(config, profile, store, evaluation, regular, robust, random, models, summary, cache)
    reference = store.read(REFERENCE_KIND, reference_config(summary, *models))
    unit = scores_unit(config.seed, "reference")
    if reference is not None:
        countdown.finish(unit, computed=False)
    else:
        countdown.start(unit)
        start = time.perf_counter()
        accuracies = {"acc_regular_clean": evaluation.clean_accuracy(regular),
                      "acc_star_clean": evaluation.clean_accuracy(robust),
                      "acc_regular_attacked": evaluation.scored_accuracy(regular),
                      "acc_star": evaluation.scored_accuracy(robust),
                      "acc_star_eval": evaluation.adversarial_accuracy(robust),
                      "acc_star_val": evaluation.val_accuracy(robust),
                      "scored_images": int(len(evaluation.scored[1])), "eval_images": int(len(evaluation.eval[1])),
                      "clean_images": int(len(evaluation.clean[1]))}
        accuracies["acc_regular"] = accuracies["acc_regular_attacked"]  # older name, read by older pages
        reference = store.write(REFERENCE_KIND, reference_config(summary, *models), accuracies, profile=profile.name,
                                seed=config.seed, device=device, wall_time_s=time.perf_counter() - start,
                                extra={"eval_attack": evaluation.attack(robust).describe()})
        countdown.finish(unit)
    return cell, reference, {"regular": regular_info["wall_time_s"], "robust": robust_info["wall_time_s"]}


def _method_state_path(cell: SeedCell, tconfig: dict) -> Path:
    """Where a trial's training method's end state is kept for the seed's next trial (ATTA's carried
    perturbations; kept beside the cached networks, so an interrupted seed still carries it)."""
    return cell.cache / "algorithm1" / "method_state" / f"{config_hash(tconfig)}.pt"


def _run_trials(cell: SeedCell, arm: ArmName, reference: dict, train_set, progress: bool,
                countdown: Countdown) -> dict:
    """The T trials of ``arm`` in one seed, each read from the store or run and recorded (its checkpoints
    removed once recorded, its best-epoch networks kept for scoring). Returns the trials' metrics and record
    hashes, their wall time and gradient evaluations."""
    config, store, evaluation = cell.config, cell.store, cell.evaluation
    acc_star_val = reference["metrics"]["acc_star_val"]
    out = {"trials": [], "hashes": [], "wall_time_s": 0.0, "grad_evals": 0}
    previous = None  # the previous trial's identity: its training method's end state is carried into the next
    for t in range(config.resolved_trials):
        tconfig = trial_config(cell.summary, t, *cell.models, arm=arm)
        record = store.read(TRIAL_KIND, tconfig)
        unit = trial_unit(config.seed, t, config.resolved_trials, arm)
        if record is None:
            countdown.start(unit)
            start, counter = time.perf_counter(), GradEvalCounter()
            checkpoint_dir = cell.cache / "algorithm1" / config_hash(tconfig)
            carried = _method_state_path(cell, previous) if previous is not None else None
            metrics, state = _run_trial(t, arm, cell, acc_star_val, train_set, checkpoint_dir, counter, progress,
                                        torch.load(carried) if carried is not None and carried.exists() else None)
            if state is not None and t + 1 < config.resolved_trials:  # only a next trial reads it
                _method_state_path(cell, tconfig).parent.mkdir(parents=True, exist_ok=True)
                torch.save(state, _method_state_path(cell, tconfig))
            metrics["grad_evals"] = counter.count
            counter.detach()
            record = store.write(TRIAL_KIND, tconfig, metrics, profile=cell.profile.name, seed=config.seed + t,
                                 device=evaluation.device, wall_time_s=time.perf_counter() - start,
                                 extra={"acc_star": reference["metrics"]["acc_star"], "acc_star_val": acc_star_val})
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            if carried is not None:
                carried.unlink(missing_ok=True)  # read by this trial, the only one that needs it
            countdown.finish(unit)
        previous = tconfig
        out["trials"].append(record["metrics"])
        out["hashes"].append(record["config_hash"])
        out["wall_time_s"] += record["wall_time_s"]
        out["grad_evals"] += record["metrics"].get("grad_evals", 0)
    return out


def _run_arm(cell: SeedCell, arm: ArmName, reference: dict, train_set, progress: bool, countdown: Countdown) -> dict:
    """Trials and selection rules of one arm in one seed: the paper's test-selected Acc~ (on the per-epoch
    images), the validation-selected trial, rho; plus the record hashes, wall time and gradient evaluations.
    :func:`_score_arm` then scores the validation-selected network."""
    acc_star_eval = reference["metrics"].get("acc_star_eval", reference["metrics"]["acc_star"])
    run = _run_trials(cell, arm, reference, train_set, progress, countdown)
    return {**run, "selected": summarize_trials(run["trials"], acc_star_eval, cell.config.k)}


def _score_arm(cell: SeedCell, arm: ArmName, run: dict) -> dict:
    """``run`` (of :func:`_run_arm`) with its validation-selected network scored on the scored images
    (``acc_tilde_unbiased``; the per-epoch images' value kept as ``acc_tilde_per_epoch_val_selected``)."""
    selected = dict(run["selected"])
    score = score_network(cell, {"trial_record": run["hashes"][selected["best_val_trial"]], "selection": "val"},
                          trial_network(cell, arm, selected["best_val_trial"], "val"))
    selected["acc_tilde_per_epoch_val_selected"] = selected["acc_tilde_unbiased"]  # on the per-epoch images
    selected["acc_tilde_unbiased"] = score["accuracy"]
    return {**run, "selected": selected, "grad_evals": run["grad_evals"] + score["grad_evals"]}


def _training_attack_spec(config: RunConfig, profile) -> str:
    """The training attack (full network and f_b) as the record names it."""
    attack = train_attack(config.eps, profile.train_attack_steps)
    return (f"pgd-{attack['steps']}, eps {attack['eps'] * 255:g}/255, step {attack['alpha'] * 255:g}/255, "
            "random start")


def _run_seed(config: RunConfig, store: ResultsStore, cache: Path, progress: bool,
              final_autoattack_wanted: bool, countdown: Countdown) -> dict:
    """Algorithm 1 for one seed (``config.seed``): the ``table1_seed`` record, resumable per trial.

    Steps: the reference networks and their accuracies (:func:`_reference_networks`), Acc_sr of the
    semirobust network, the trials (:func:`_run_trials`), the selection rules (:func:`summarize_trials`),
    the final AutoAttack (:func:`final_autoattack_metrics`), and the record."""
    summary = summary_config(config)
    existing = store.read(SEED_KIND, summary)
    if existing is not None:
        return existing
    t0 = time.perf_counter()
    cell, reference, training_wall = _reference_networks(config, store, cache, progress, summary, countdown)
    profile, evaluation, acc_star = cell.profile, cell.evaluation, reference["metrics"]["acc_star"]
    train_set, _ = train_val_split(load_dataset(config.dataset, "train", root=config.data_root,
                                                subset=profile.train_subset, seed=config.seed),
                                   profile.val_fraction, config.seed)
    arm_runs = {arm: _run_arm(cell, arm, reference, train_set, progress, countdown)
                for arm in cell_arms(profile, config.arch, config.fb_layers)}

    def scores():
        sr_network = combine_fa_fb(cell.robust, cell.regular, config.fb_layers)
        identity = {"network": "semirobust", "models": list(cell.models), "fb_layers": config.fb_layers}
        return (score_network(cell, identity, lambda: sr_network),
                {arm: _score_arm(cell, arm, run) for arm, run in arm_runs.items()})
    sr, arm_runs = countdown.timed(scores_unit(config.seed, "arms"), scores)
    main = arm_runs[ArmName.ALGORITHM1]
    selected = main["selected"]
    finals = countdown.timed(autoattack_unit(config.seed), lambda: final_autoattack_metrics(
        cell, arm_runs, wanted=final_autoattack_wanted)) if autoattack_unit(config.seed) in countdown.units else \
        final_autoattack_metrics(cell, arm_runs, wanted=final_autoattack_wanted)
    grad_evals = sr["grad_evals"] + sum(run["grad_evals"] for run in arm_runs.values()) + finals.pop("grad_evals", 0)
    acc_star_eval = reference["metrics"].get("acc_star_eval", acc_star)
    controls = {}
    for arm, run in arm_runs.items():
        if arm != ArmName.ALGORITHM1:
            chosen = run["selected"]
            controls.update({f"acc_tilde_{arm}": chosen["acc_tilde_unbiased"], f"acc_tilde_{arm}_paper": chosen["acc_tilde"],
                             f"diff_{arm}": None if chosen["acc_tilde_unbiased"] is None
                             else chosen["acc_tilde_unbiased"] - acc_star})
    arms = {arm: {**run["selected"], "trials": run["trials"], "trial_records": run["hashes"],
                  "wall_time_s": run["wall_time_s"], "grad_evals": run["grad_evals"]} for arm, run in arm_runs.items()}
    metrics = {**reference["metrics"], "acc_sr": sr["accuracy"], **selected, **controls, **finals,
               "diff": selected["acc_tilde"] - acc_star_eval,
               "diff_unbiased": None if selected["acc_tilde_unbiased"] is None
               else selected["acc_tilde_unbiased"] - acc_star,
               "grad_evals": grad_evals,
               "grad_evals_authors": authors_grad_evals(len(train_set), len(evaluation.clean[1]), acc_star),
               "trials": main["trials"], "arms": arms, "arm_names": list(arm_runs)}
    extra = {"profile_settings": profile.as_dict(), "regular_model": cell.models[0], "robust_model": cell.models[1],
             "eval_images": int(evaluation.eval[1].shape[0]), "val_images": int(evaluation.val[1].shape[0]),
             "rho_images": int(evaluation.rho[1].shape[0]), "clean_images": int(evaluation.clean[1].shape[0]),
             "scored_images": int(evaluation.scored[1].shape[0]), "train_images": len(train_set),
             "training_attack": _training_attack_spec(config, profile), "train_eps": float(config.eps),
             "stopping": "validation accuracy under the evaluation attack within k of Acc* on validation",
             "eval_attack": evaluation.attack(cell.robust).describe(),
             "final_autoattack_images": cell.final_autoattack_images(final_autoattack_wanted),
             "trial_records": main["hashes"], "trials_wall_time_s": main["wall_time_s"],
             "arms_wall_time_s": {arm: run["wall_time_s"] for arm, run in arm_runs.items()},
             "training_wall_time_s": training_wall}
    record = store.write(SEED_KIND, summary, metrics, profile=profile.name, seed=config.seed, device=evaluation.device,
                         wall_time_s=time.perf_counter() - t0, extra=extra)
    arms_text = "".join(f", {arm} {controls[f'acc_tilde_{arm}']:.1f}" for arm in arm_runs
                        if arm != ArmName.ALGORITHM1 and controls.get(f"acc_tilde_{arm}") is not None)
    announce(f"Algorithm 1 {config.arch} f_b={config.fb_layers} seed {config.seed}: Acc* {acc_star:.1f}, "
             f"Acc_sr {metrics['acc_sr']:.1f}, Acc~ {metrics['acc_tilde_unbiased']:.1f} (validation-selected; "
             f"paper's rule {metrics['acc_tilde']:.1f}){arms_text} in {record['wall_time_s']:.0f} s; "
             f"{countdown.left_text()}")
    return record




def run_arms(config: RunConfig, arms, *, results_dir=None, cache_dir=None, progress: bool = True,
             sources: dict | None = None) -> dict:
    """Arms of :data:`semirobust.experiments.table1.arms.ARMS` that the seed's own record does not hold (the later
    studies': ``fast_fa``, ``atta_fb``, ``trades_fb``), run on a finished seed with the seed's networks, images,
    trial budget, stopping rule and selection, each scored on the scored images like the seed's arms. Each arm
    is recorded (kind ``algorithm1_arm``; its trials as ``algorithm1_trial``), so a rerun reads it.

    ``arms``: names of :class:`~semirobust.names.ArmName` (a list, or a comma-separated string); an unknown one is
    a ValueError naming the arms, before any compute. ``sources``: f_a networks the arms take beyond the seed's
    (``{"fgsm_rs": network}`` for ``fast_fa``). Returns ``{arm: the arm's record metrics}`` (as the seed record's
    ``arms`` entries)."""
    config = validated_config(config)
    arms = parse_choices("arm", parse_list(arms, "arms"), ArmName)
    store = ResultsStore(results_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    device = resolve_device(config.device)
    out, missing = {}, []
    summary = summary_config(config)
    for arm in arms:
        found = store.read(ARM_KIND, {**summary, "arm": arm})
        if found is not None:
            out[arm] = found["metrics"]
        else:
            missing.append(arm)
    if not missing:
        return out
    cell, record = finished_cell(config, store, cache, device, progress, with_evaluation=True)
    cell = dataclasses.replace(cell, sources=dict(sources or {}))
    reference = store.read(REFERENCE_KIND, reference_config(cell.summary, *cell.models))
    train_set, _ = train_val_split(load_dataset(config.dataset, "train", root=config.data_root,
                                                subset=cell.profile.train_subset, seed=config.seed),
                                   cell.profile.val_fraction, config.seed)
    countdown = algorithm1_countdown(config, [config.seed], {arm: True for arm in missing})
    for arm in missing:
        start = time.perf_counter()
        run = _run_arm(cell, arm, reference, train_set, progress, countdown)
        metrics = {**run["selected"], "trials": run["trials"], "trial_records": run["hashes"],
                   "wall_time_s": run["wall_time_s"], "grad_evals": run["grad_evals"]}
        written = store.write(ARM_KIND, {**summary, "arm": arm}, metrics, profile=cell.profile.name, seed=config.seed,
                              device=device, wall_time_s=time.perf_counter() - start,
                              extra={"acc_star": reference["metrics"]["acc_star"], "label": ARMS[arm].label})
        out[arm] = written["metrics"]
    return out


def run_seed(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = True) -> dict:
    """One seed (``config.seed``) of a Table 1 cell on its own: the ``table1_seed`` record that
    :func:`run_algorithm1` reads (a process pool can run a cell's seeds side by side). The final full
    AutoAttack runs where the seed is among the profile's first ``final_autoattack_seeds`` seeds."""
    config = validated_config(config)
    profile = config.resolved_profile
    limit = profile.final_autoattack_seeds
    seeds = list(profile.seeds)
    wanted = limit is None or (config.seed in seeds and seeds.index(config.seed) < limit)
    arms = {arm: ARMS[arm].mode == TrainingMode.ADVERSARIAL
            for arm in cell_arms(profile, config.arch, config.fb_layers)}
    countdown = algorithm1_countdown(config, [config.seed], arms, autoattack_seeds=[config.seed] if wanted else [])
    cache = check_output_dir(Path(cache_dir) if cache_dir is not None else default_cache_dir(), "cache_dir")
    return _run_seed(config, ResultsStore(check_output_dir(ResultsStore(results_dir).root, "results_dir")), cache,
                     progress, wanted, countdown)


def run_algorithm1(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = True,
                   rerun: bool = False, seeds=None) -> dict:
    """Run Algorithm 1 for ``config`` over ``seeds`` (None: ``config.seed + s`` for the profile's
    seeds) and return the cell's ``table1`` record: per-seed metrics under ``metrics["per_seed"]``,
    their means with ``_ci`` companions (95% t-interval, None with one seed) under ``metrics``.

    A finished record of the same configuration is returned as it is unless ``rerun``; finished
    seeds and trials are always reused from the store.
    """
    config = validated_config(config)
    note = arch_cut_note(config.arch, config.dataset, config.fb_layers)
    if note:  # a residual cut or sibling pairs: rho is not measured along a chain there
        warnings.warn(note, UserWarning, stacklevel=2)
    profile = config.resolved_profile
    seeds = [config.seed + s for s in profile.seeds] if seeds is None else parse_list(seeds, "seeds", int)
    summary = table1_config(config, seeds)
    store = ResultsStore(results_dir)
    if not rerun:
        existing = store.read(SUMMARY_KIND, summary)
        if existing is not None:
            return existing
    t0 = time.perf_counter()
    cache = check_output_dir(Path(cache_dir) if cache_dir is not None else default_cache_dir(), "cache_dir")
    check_output_dir(store.root, "results_dir")
    limit = profile.final_autoattack_seeds
    arms = {arm: ARMS[arm].mode == TrainingMode.ADVERSARIAL
            for arm in cell_arms(profile, config.arch, config.fb_layers)}
    countdown = algorithm1_countdown(config, seeds, arms,  # progress lines on stderr, with the time left
                                     autoattack_seeds=seeds if limit is None else seeds[:limit])
    records = [_run_seed(dataclasses.replace(config, seed=s), store, cache, progress, limit is None or i < limit,
                         countdown) for i, s in enumerate(seeds)]
    per_seed = [r["metrics"] for r in records]
    metrics = {**aggregate_seeds(per_seed, AGGREGATED), "seeds": seeds, "eps": float(config.eps),
               "train_eps": float(config.eps), "per_seed": per_seed,
               "rho_pairs": aggregate_pairs(per_seed),
               "trials": per_seed[0]["trials"], "rho_rule": per_seed[0]["rho_rule"]}
    extra = {**records[0]["extra"], "seed_records": [r["config_hash"] for r in records],
             "seed_wall_time_s": [r["wall_time_s"] for r in records]}
    return store.write(SUMMARY_KIND, summary, metrics, profile=profile.name, seed=seeds[0],
                       device=resolve_device(config.device), wall_time_s=time.perf_counter() - t0, extra=extra)


__all__ = ["run_algorithm1", "run_seed", "run_arms", "summarize_trials", "aggregate_seeds", "best_epoch",
           "aggregate_pairs", "AGGREGATED"]
