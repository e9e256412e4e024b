"""What a Table 1 cell spent and how hard it attacked, read from its record: the trial budget and the epochs each arm
used (the supplementary's "epochs to converge"), the noise of the stopping decision, and per network the gap
between the per-epoch attack, the scoring attack and the full standard AutoAttack."""
from __future__ import annotations

import math

import pandas as pd

from semirobust.experiments.table1.arms import ARMS
from semirobust.experiments.table1.arms_report import SHORT_NAMES, arms_run, epochs_text, epochs_used
from semirobust.inference import mean_and_half

#: what each AutoAttack attack is called on the page
_ATTACK_NAMES = {"apgd-ce": "APGD-CE", "apgd-dlr": "APGD-DLR", "apgd-t": "APGD-T", "fab-t": "FAB-T", "square": "Square"}


def _settings(record: dict) -> dict:
    return record["extra"].get("profile_settings", {})


def scoring_attack_label(record: dict) -> str:
    """The scoring attack as the page names it, e.g. "APGD-CE + APGD-DLR, 100 iterations each (worst case per
    image)"."""
    settings = _settings(record)
    attacks = settings.get("score_attacks") or ["apgd-ce"]
    iters = settings.get("score_apgd_iters") or 100
    names = " + ".join(_ATTACK_NAMES.get(a, a) for a in attacks)
    return f"{names}, {iters} iterations{' each (worst case per image)' if len(attacks) > 1 else ''}"


def epoch_attack_label(record: dict) -> str:
    """The attack after every trial epoch (stopping and selection), e.g. "APGD-CE, 20 iterations"."""
    return f"APGD-CE, {_settings(record).get('stopping_apgd_iters') or 100} iterations"


def stopping_noise(record: dict) -> dict:
    """The stopping decision's noise: k, the validation images, and the binomial standard error (points) of one
    validation accuracy at Acc* on validation (the stopping rule compares two such accuracies on the same images)."""
    extra, m = record["extra"], record["metrics"]
    n = extra.get("val_images") or 0
    p = (m.get("acc_star_val") or m.get("acc_star") or 50.0) / 100
    se = 100 * math.sqrt(p * (1 - p) / n) if n else math.nan
    return {"k": float(record["config"].get("k", _settings(record).get("k", 1.0))), "val_images": int(n),
            "val_se": round(se, 1)}


def stopping_sentence(record: dict) -> str:
    """The stopping rule with its noise, for the page."""
    noise, budget = stopping_noise(record), record["config"].get("epochs")
    trials = record["config"].get("trials")
    return (f"Every arm gets the same budget: {trials} trial{'s' if trials != 1 else ''} of up to {budget} epochs, "
            f"stopped after the first epoch whose accuracy under the per-epoch attack ({epoch_attack_label(record)}) "
            f"on {noise['val_images']:,} validation images is within k = {noise['k']:g} point of Acc* on the same "
            f"images; one such accuracy has a binomial standard error of about {noise['val_se']:.1f} points, so a "
            "trial can stop on noise a little above k. The scored test images never enter stopping or selection.")


def _cell(values) -> str:
    mean, half = mean_and_half(values)
    if math.isnan(mean):
        return ""
    return f"{mean:.1f}" + (f"\u00a0±\u00a0{half:.1f}" if half is not None else "")


def attack_gap_table(record: dict) -> pd.DataFrame:
    """Per final network that faced every attack (Acc*'s and Algorithm 1's validation-selected one): its accuracy
    under the per-epoch attack (on the per-epoch test images), the scoring attack (the scored images) and the
    full standard AutoAttack with APGD-CE alone inside it (on the final images), each a mean over the seeds with
    its 95% half-width: how far the cheaper attacks flatter."""
    per_seed = record["metrics"]["per_seed"]
    images = record["extra"].get("final_autoattack_images")
    networks = (("robust network (Acc*)", "acc_star_eval", "acc_star", "acc_star_autoattack"),
                ("Algorithm 1, validation-selected", "acc_tilde_per_epoch_val_selected", "acc_tilde_unbiased",
                 "acc_tilde_unbiased_autoattack"))
    rows = []
    for name, epoch_key, score_key, aa_key in networks:
        row = {"network": name,
               f"per-epoch attack ({epoch_attack_label(record)})": _cell([s.get(epoch_key) for s in per_seed]),
               f"scoring attack ({scoring_attack_label(record)})": _cell([s.get(score_key) for s in per_seed])}
        if images:
            row[f"APGD-CE, 100 iterations ({images} images)"] = _cell([s.get(f"{aa_key}_apgd_ce") for s in per_seed])
            row[f"full AutoAttack ({images} images)"] = _cell([s.get(aa_key) for s in per_seed])
            gaps = [s[score_key] - s[aa_key] for s in per_seed if s.get(score_key) is not None and
                    s.get(aa_key) is not None]
            row["scoring minus full AutoAttack"] = _cell(gaps)
        rows.append(row)
    return pd.DataFrame(rows)


def epochs_table(record: dict) -> pd.DataFrame:
    """Each arm's epochs used (mean over seeds, range, of the budget) and how many of its seeds stopped early."""
    rows = []
    for arm in arms_run(record):
        stopped = sum(1 for seed in record["metrics"]["per_seed"]
                      for t in ((seed.get("arms", {}).get(arm) or {}).get("trials") or []) if t.get("stopped_early"))
        rows.append({"arm": f"{SHORT_NAMES[arm]}: {ARMS[arm].label.split(' (')[0]}",
                     "epochs used": epochs_text(record, arm),
                     "trials stopped by the rule": f"{stopped} of {len(record['metrics']['per_seed'])}"})
    return pd.DataFrame(rows)


def budget_values(record: dict) -> dict:
    """The values the Table 1 notebook glues for the budget and the scoring (issue names), from the record."""
    m, extra, settings = record["metrics"], record["extra"], _settings(record)
    aa_seeds = [s for s, p in zip(m["seeds"], m["per_seed"]) if p.get("acc_star_autoattack") is not None]
    used = [v for v in epochs_used(record, "algorithm1") if not math.isnan(v)]
    noise = stopping_noise(record)
    return {"trial_epochs_max": int(record["config"]["epochs"]), "trials": int(record["config"]["trials"]),
            "scoring_attack": scoring_attack_label(record),
            "scoring_iterations": int(settings.get("score_apgd_iters") or 100),
            "full_aa_images": int(extra.get("final_autoattack_images") or 0), "full_aa_seeds": len(aa_seeds),
            "epochs_used_algorithm1": round(sum(used) / len(used), 1) if used else "not run",
            "acc_star_clean": round(m["acc_star_clean"], 1), "val_images_stopping": noise["val_images"],
            "val_se_stopping": noise["val_se"], "stopping_k": noise["k"]}


__all__ = ["scoring_attack_label", "epoch_attack_label", "stopping_noise",
           "stopping_sentence", "attack_gap_table", "epochs_table", "budget_values"]
