"""The configurations that name Table 1's records (kinds, version, record identities) and the builders of the
run configurations a page asks for (Table 1's cells, Figure 1's and Figure 2's); no compute here.

A record's identity is :func:`summary_config` (a seed), :func:`table1_config` (a cell), :func:`trial_config` (one trial of an arm) or
:func:`reference_config` (the full networks' accuracies); :mod:`semirobust.experiments.table1.algorithm1` runs
them and :mod:`semirobust.experiments.table1.finished` reads them back.
"""
from __future__ import annotations

import dataclasses

from semirobust.config import ARCH_SPECS, DATASET_NAMES, RunConfig, get_profile, parse_eps, parse_list
from semirobust.names import ArmName, RecordKind
from semirobust.utils import config_hash

#: bump when the procedure changes so that stored trials and summaries are recomputed.
ALGORITHM1_VERSION = "4"  # 2: best-epoch selection, validation split, seeds, train eps = eval eps; 3: arms, scored
# images; 4: the same test images for every seed, per-epoch wall time in the trial curves
# The record kinds of Table 1 (members of semirobust.names.RecordKind, under their older names):
TRIAL_KIND = RecordKind.ALGORITHM1_TRIAL
REFERENCE_KIND = RecordKind.ALGORITHM1_REFERENCE
SUMMARY_KIND = RecordKind.TABLE1
#: the final networks under the full standard AutoAttack (one record per network).
AUTOATTACK_KIND = RecordKind.ALGORITHM1_AUTOATTACK
#: one seed of one Table 1 cell; ``table1`` aggregates the seeds of a cell.
SEED_KIND = RecordKind.TABLE1_SEED
#: a selected network scored on the scored test images (one record per network, so a rerun reads it)
SCORE_KIND = RecordKind.ALGORITHM1_SCORE
#: one arm run on a finished seed by :func:`run_arms` (the later studies' arms)
ARM_KIND = RecordKind.ALGORITHM1_ARM


def _run_config(config: RunConfig) -> RunConfig:
    """``config`` itself, a RunConfig (validated when it was built, so nothing is checked again); anything else is a
    clear error."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a semirobust.config.RunConfig, got {type(config).__name__}.")
    return config


def validated_config(config: RunConfig) -> RunConfig:
    """``config`` as a RunConfig of its own (a copy of ``extra``), for a run's entry point; anything else is a clear
    error."""
    return dataclasses.replace(_run_config(config), extra=dict(config.extra))


def figure2_fb_sizes(fb_sizes, profile: str):
    """``fb_sizes`` when given, else the paper's Figure 2 sizes (smallest and largest at smoke)."""
    if fb_sizes is not None:
        return fb_sizes
    return list(get_profile(profile).figure2_fb_sizes)


def build_configs(models, datasets, fb_sizes=None, **common) -> list[RunConfig]:
    """Validated RunConfigs for every (model, data set, f_b size), before any compute.

    ``models``/``datasets``/``fb_sizes``: lists or comma-separated strings; ``fb_sizes=None``
    uses the paper's f_b size of each model. ``common``: the other RunConfig fields (``eps`` may
    be a string such as "8/255").
    """
    if "eps" in common:
        common["eps"] = parse_eps(common["eps"])
    sizes = [None] if fb_sizes is None else parse_list(fb_sizes, "fb_sizes", int)
    return [RunConfig(arch=m, dataset=d, fb_layers=f, **common)
            for m in parse_list(models, "models") for d in parse_list(datasets, "datasets") for f in sizes]


def figure1_configs(models, datasets, *, all_cells: bool = False, **common) -> tuple[list[RunConfig], list[RunConfig]]:
    """Figure 1's configs (:func:`build_configs` at each model's paper f_b size) split into those run and those
    the profile leaves out for the build's time (``Profile.figure1_left_out``; ``all_cells``: none left out)."""
    configs = build_configs(models, datasets, fb_sizes=None, **common)
    left_out = [] if all_cells else [c for c in configs
                                      if (c.arch, c.dataset) in c.resolved_profile.figure1_left_out]
    return [c for c in configs if c not in left_out], left_out


def left_out_sentence(left_out: list[RunConfig]) -> str:
    """What the profile leaves out of a figure, as the page says it ('' when nothing)."""
    if not left_out:
        return ""
    cells = ", ".join(f"{ARCH_SPECS[c.arch].display_name} on {DATASET_NAMES.get(c.dataset, c.dataset)}" for c in left_out)
    return (f"Left out at the {left_out[0].resolved_profile.name} profile, for the build's time: {cells} "
            "(not among the book's listed cells, semirobust.experiments.table1.population; the Table 1 notebook runs "
            "any one cell).")


def summary_config(config: RunConfig) -> dict:
    """The configuration that names a run's ``table1`` record (validated values, profile resolved).

    The data folder and the device are not part of it: results computed elsewhere are the same run.
    """
    config = _run_config(config)
    profile = config.resolved_profile
    return {"arch": config.arch, "dataset": config.dataset, "attack": config.attack, "eps": float(config.eps),
            "fb_layers": config.fb_layers, "trials": config.resolved_trials, "epochs": config.resolved_epochs,
            "k": float(config.k), "profile": profile.name, "profile_hash": config_hash(profile.algorithm1_dict()),
            "seed": config.seed, "version": ALGORITHM1_VERSION}


def table1_config(config: RunConfig, seeds=None) -> dict:
    """The configuration that names a cell's ``table1`` record: :func:`summary_config` plus the cell's seeds
    (``seeds``; None: ``config.seed`` plus each of the profile's seeds). A page reads a cell by this identity."""
    if seeds is None:
        seeds = [config.seed + s for s in _run_config(config).resolved_profile.seeds]
    return {**summary_config(config), "seeds": list(seeds)}


def trial_config(summary: dict, trial: int, regular_hash: str, robust_hash: str,
                 arm: ArmName = ArmName.ALGORITHM1) -> dict:
    """Configuration of trial ``trial`` of ``arm``: the summary's without T, plus the arm, the trial index and
    the hashes of the two trained networks it starts from (so a retrained network is not mixed up)."""
    config = {k: v for k, v in summary.items() if k != "trials"}
    return {**config, "arm": arm, "trial": trial, "regular_model": regular_hash, "robust_model": robust_hash}


def reference_config(summary: dict, regular_hash: str, robust_hash: str) -> dict:
    """Configuration of the full networks' accuracies (Acc, Acc*): the summary's without anything
    about f_b or the trials, plus the hashes of the two trained networks."""
    keep = ("arch", "dataset", "attack", "eps", "profile", "profile_hash", "seed", "version")
    return {**{k: summary[k] for k in keep}, "regular_model": regular_hash, "robust_model": robust_hash}


__all__ = ["ALGORITHM1_VERSION", "TRIAL_KIND", "REFERENCE_KIND", "SUMMARY_KIND", "AUTOATTACK_KIND", "SEED_KIND",
           "SCORE_KIND", "ARM_KIND", "validated_config", "figure2_fb_sizes", "build_configs", "figure1_configs",
           "left_out_sentence", "summary_config", "table1_config", "trial_config", "reference_config"]
