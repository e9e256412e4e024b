"""Table 1 of the paper assembled from the results store, with the supplementary's values beside ours.

A ``table1`` record (written by :func:`semirobust.experiments.table1.algorithm1.run_algorithm1`) becomes one row with
the paper's columns: Model, Dataset, f_b layers, Acc*, Acc_sr, Acc~, Diff and rho_n, rho_{n-3},
rho_{n-7}, rho_{n-11}, rho_{n-15} (blank where f_b has fewer layer pairs). Where the
supplementary (Tables S2-S4, copied into ``semirobust/data_files/reported_supplementary.csv``)
reports the same network, data set, attack and f_b size, its row is placed right after ours.
The Table 1 page's sentences come from here too: a record's summary lines (:func:`record_lines`), the
verdict of a cell (:func:`table1_verdict`) and its cost at the paper's scale (:func:`paper_scale_cost`).
"""
from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from importlib import resources

import pandas as pd

from semirobust.config import DATASET_NAMES, MODEL_NAMES, get_profile  # the names the supplementary's CSV uses too
from semirobust.cost import grad_evals_at_scale
from semirobust.experiments.report.verdicts import interval_status, reading
from semirobust.rho import TABLE1_OFFSETS

#: rho columns of Table 1: rho_{n-x} for these x (rho_n is the last pair of layers of f_b).
RHO_OFFSETS = TABLE1_OFFSETS
ACC_COLUMNS = ("Acc*", "Acc_sr", "Acc~", "Diff")
KEY_COLUMNS = ("Model", "Dataset", "f_b layers")
#: the eps the comparison assumes for the supplementary's FGSM/PGD tables (the paper's Table 1 eps).
REPORTED_EPS = 8 / 255
REPORTED_FILE = "reported_supplementary.csv"
#: supplementary CSV column of rho_{n-x}, per x.
_REPORTED_RHO = {0: "rho_n", 3: "rho_n_minus_3", 7: "rho_n_minus_7", 11: "rho_n_minus_11", 15: "rho_n_minus_15"}


def rho_label(offset: int) -> str:
    """Column name of rho_{n-offset}: ``rho_n``, ``rho_{n-3}``, ..."""
    return "rho_n" if offset == 0 else f"rho_{{n-{offset}}}"


RHO_COLUMNS = tuple(rho_label(x) for x in RHO_OFFSETS)
TABLE1_COLUMNS = KEY_COLUMNS + ACC_COLUMNS + RHO_COLUMNS


def rho_at(rho: list, offset: int) -> float:
    """rho_{n-offset} from a list ordered rho_{a+1}, ..., rho_n; NaN when f_b is too small."""
    if offset < 0:
        raise ValueError(f"offset={offset} must be >= 0.")
    if offset >= len(rho) or rho[-1 - offset] is None:
        return math.nan
    return float(rho[-1 - offset])


def _number(value) -> float:
    return math.nan if value is None else float(value)


#: the final networks under the full standard AutoAttack (run once each where the per-epoch attack is cheaper);
#: Acc~ validation-selected, as everywhere in Table 1.
AUTOATTACK_COLUMNS = {"Acc* (full AA)": "acc_star_autoattack", "Acc~ (full AA)": "acc_tilde_unbiased_autoattack"}
#: Table 1's one selection rule: Acc~ and Diff of the validation-selected network, scored on the scored images
#: (the paper's test-selected rule, ``acc_tilde`` and ``diff``, is shown once, labelled, in the arms' table of
#: :func:`semirobust.experiments.table1.arms_report.arms_table`).
SELECTED_KEYS = {"Acc~": "acc_tilde_unbiased", "Diff": "diff_unbiased"}
#: accuracy columns and the record metric whose ``_ci`` gives their interval.
_INTERVAL_KEYS = {"Acc*": "acc_star", "Acc_sr": "acc_sr", **SELECTED_KEYS, **AUTOATTACK_COLUMNS}


def table1_row(record: dict) -> dict:
    """One Table 1 row (paper's columns) from a ``table1`` record of the results store; Acc~ and Diff by the
    validation-selected rule (:data:`SELECTED_KEYS`)."""
    if record.get("kind") != "table1":
        raise ValueError(f"Expected a 'table1' record, got kind={record.get('kind')!r}.")
    config, metrics = record["config"], record["metrics"]
    row = {
        "Model": MODEL_NAMES.get(config["arch"], config["arch"]),
        "Dataset": DATASET_NAMES.get(config["dataset"], config["dataset"]),
        "f_b layers": int(config["fb_layers"]),
        "Acc*": _number(metrics["acc_star"]),
        "Acc_sr": _number(metrics["acc_sr"]),
        "Acc~": _number(metrics.get("acc_tilde_unbiased")),
        "Diff": _number(metrics.get("diff_unbiased")),
    }
    if record.get("extra", {}).get("eval_attack", {}).get("attacks") and metrics.get("acc_star_autoattack") is not None:
        for column, key in AUTOATTACK_COLUMNS.items():
            row[column] = _number(metrics.get(key))
    seeds = record["config"].get("seeds")
    if seeds and len(seeds) > 1:  # half-widths of the 95% t-interval over seeds, shown as "mean ± half"
        row["seeds"] = len(seeds)
        for column, key in _INTERVAL_KEYS.items():
            if column in row:
                row[f"{column} ci"] = _number(metrics.get(f"{key}_ci"))
    pairs = metrics.get("rho_pairs")
    for offset in RHO_OFFSETS:
        row[rho_label(offset)] = rho_at(metrics["rho"], offset)
        if pairs is not None:  # the permutation null beside each rho, and whether rho is above it
            pair = pairs[-1 - offset] if offset < len(pairs) else None
            row[f"{rho_label(offset)} null"] = math.nan if pair is None else _number(pair.get("rho_null_mean"))
            row[f"{rho_label(offset)} above null"] = "" if pair is None else ("yes" if pair.get("rho_above_null") else "no")
    if pairs is not None:
        row["pairs above null"] = f"{sum(bool(p.get('rho_above_null')) for p in pairs)} of {len(pairs)}"
    return row


def _order(record: dict) -> tuple:
    """Sort key of a record: model in the paper's order, then data set, f_b size, attack, eps."""
    config = record["config"]
    models = list(MODEL_NAMES)
    return (models.index(config["arch"]) if config["arch"] in models else len(models), config["dataset"],
            config["fb_layers"], config["attack"], config["eps"])


def table1_frame(records: list[dict]) -> pd.DataFrame:
    """Table 1 from ``table1`` records: one row per record, ordered by model, data set and f_b size."""
    rows = [table1_row(r) for r in sorted(records, key=_order)]
    extra = [c for row in rows for c in row if c not in TABLE1_COLUMNS]
    return pd.DataFrame(rows, columns=list(TABLE1_COLUMNS) + list(dict.fromkeys(extra)))


def attack_label(record: dict) -> str:
    """The evaluation attack of a record as pages show it: its name, plus the attacks actually run
    when the run used a reduced version (AutoAttack at the smoke profile: ``autoattack (apgd-ce only)``)."""
    subset = record.get("extra", {}).get("eval_attack", {}).get("attacks")
    name = record["config"]["attack"]
    return f"{name} ({', '.join(subset)} only)" if subset else name


def stamp_line(profile: str, datasets) -> str:
    """The line stamped on every rendered table: which profile and data set(s) produced it."""
    names = [datasets] if isinstance(datasets, str) else sorted(set(datasets))
    text = f"Computed at profile={profile} on dataset={', '.join(names) or '(none)'}"
    return text + ("" if profile == "paper" else " (not the paper's scale)")


@lru_cache(maxsize=1)
def _reported_csv() -> pd.DataFrame:
    with resources.files("semirobust").joinpath("data_files", REPORTED_FILE).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def load_reported() -> pd.DataFrame:
    """The supplementary's Tables S2-S4 (see ``semirobust/data_files/README.md`` for the source)."""
    return _reported_csv().copy()


def _reported_key(arch: str, dataset: str, attack: str, eps: float) -> tuple[str, str, str] | None:
    """The supplementary's (network, dataset, attack) names, or None when it has no such setting."""
    reported = load_reported()
    key = (MODEL_NAMES.get(arch), DATASET_NAMES.get(dataset), attack)
    if not math.isclose(eps, REPORTED_EPS, rel_tol=1e-9):
        return None
    match = (reported["network"] == key[0]) & (reported["dataset"] == key[1]) & (reported["attack"] == key[2])
    return key if match.any() else None


def reported_rows(arch: str, dataset: str, attack: str, eps: float, fb_layers: int | None = None) -> pd.DataFrame:
    """The supplementary's rows for this network / data set / attack (and f_b size), in Table 1 columns.

    Empty when the supplementary has no such setting (it reports VGG16, ResNet18 and WRN-34-10 on
    CIFAR-10/100 and Tiny ImageNet under clean data, FGSM and PGD, at eps 8/255).
    """
    key = _reported_key(arch, dataset, attack, eps)
    columns = ["Source", *TABLE1_COLUMNS]
    if key is None:
        return pd.DataFrame(columns=columns)
    reported = load_reported()
    chosen = reported[(reported["network"] == key[0]) & (reported["dataset"] == key[1]) & (reported["attack"] == key[2])]
    if fb_layers is not None:
        chosen = chosen[chosen["fb_layers"] == fb_layers]
    rows = []
    for _, r in chosen.iterrows():
        row = {"Source": f"reported (Table {r['table']})", "Model": r["network"], "Dataset": r["dataset"],
               "f_b layers": int(r["fb_layers"]), "Acc*": r["acc_star"], "Acc_sr": r["acc_sr"],
               "Acc~": r["acc_tilde"], "Diff": r["diff"]}
        for offset in RHO_OFFSETS:
            row[rho_label(offset)] = r.get(_REPORTED_RHO[offset], math.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns).astype({c: float for c in ACC_COLUMNS + RHO_COLUMNS})


def reported_note(arch: str, dataset: str, attack: str, eps: float, fb_layers: int | None = None) -> str:
    """A sentence saying whether the supplementary reports this setting, and why not when it does not."""
    setting = f"{MODEL_NAMES.get(arch, arch)} / {DATASET_NAMES.get(dataset, dataset)} / {attack} / eps={eps * 255:.4g}/255"
    if not reported_rows(arch, dataset, attack, eps, fb_layers).empty:
        return f"The supplementary reports {setting}" + (f" with f_b = {fb_layers}" if fb_layers else "") + \
            ": its row is shown right after ours."
    reported = load_reported()
    reasons = []
    if MODEL_NAMES.get(arch) not in set(reported["network"]):
        reasons.append(f"network {MODEL_NAMES.get(arch, arch)} (it reports {', '.join(sorted(set(reported['network'])))})")
    if DATASET_NAMES.get(dataset) not in set(reported["dataset"]):
        reasons.append(f"data set {DATASET_NAMES.get(dataset, dataset)} (it reports "
                       f"{', '.join(sorted(set(reported['dataset'])))})")
    if attack not in set(reported["attack"]):
        reasons.append(f"attack {attack} (it reports {', '.join(sorted(set(reported['attack'])))})")
    if not math.isclose(eps, REPORTED_EPS, rel_tol=1e-9):
        reasons.append(f"eps={eps * 255:.4g}/255 (compared at 8/255 only)")
    if not reasons and fb_layers is not None:
        sizes = sorted(set(reported_rows(arch, dataset, attack, eps)["f_b layers"]))
        reasons.append(f"f_b = {fb_layers} (it reports f_b = {', '.join(map(str, sizes))})")
    return f"The supplementary reports no value for {setting}: no {'; no '.join(reasons)}."


def compare_with_reported(records: list[dict]) -> pd.DataFrame:
    """Table 1 with a ``Source`` column: each of our rows ("this run") followed by the
    supplementary's row for the same network, data set, attack, eps and f_b size, if any."""
    rows = []
    for record in sorted(records, key=_order):
        config = record["config"]
        rows.append({"Source": "this run", **table1_row(record)})
        reported = reported_rows(config["arch"], config["dataset"], config["attack"], config["eps"], config["fb_layers"])
        rows.extend(reported.to_dict("records"))
    extra = [c for row in rows for c in row if c not in ("Source", *TABLE1_COLUMNS)]  # seeds, intervals, nulls
    return pd.DataFrame(rows, columns=["Source", *TABLE1_COLUMNS, *dict.fromkeys(extra)])


def headline_values(record: dict) -> dict:
    """The headline numbers the Table 1 page glues (the Algorithm 1 page cites ``acc_star``, ``acc_sr``,
    ``acc_tilde`` and ``diff``), means over the seeds: Acc~ and Diff validation-selected, as in Table 1
    (:data:`SELECTED_KEYS`); the paper's test-selected values under ``acc_tilde_paper_rule`` and
    ``diff_paper_rule``."""
    m = record["metrics"]
    return {"acc_star": round(m["acc_star"], 2), "acc_sr": round(m["acc_sr"], 2),
            "acc_tilde": round(m["acc_tilde_unbiased"], 2), "diff": round(m["diff_unbiased"], 2),
            "acc_tilde_unbiased": round(m["acc_tilde_unbiased"], 2), "acc_tilde_paper_rule": round(m["acc_tilde"], 2),
            "diff_paper_rule": round(m["diff"], 2), "rho_n": round(m["rho"][-1], 3),
            "acc_regular_clean": round(m["acc_regular_clean"], 1),
            "acc_regular_attacked": round(m["acc_regular_attacked"], 1)}


def record_lines(record: dict) -> list[str]:
    """What one ``table1`` record measured, a line each: the data, the evaluation attack and its images, both
    full networks, Acc_sr to Acc~ (first seed) and the trials that converged, and the record's origin."""
    config, m, extra = record["config"], record["metrics"], record["extra"]
    first = m["per_seed"][0]
    scored = extra.get("scored_images") or extra["eval_images"]
    per_epoch = (f"; stopping and selection after every trial epoch on {extra['val_images']} validation and "
                 f"{extra['eval_images']} test images" if extra.get("scored_images") else "")
    train = f" on {extra['train_images']:,} training images" if extra.get("train_images") else ""
    return [f"Evaluation attack: {attack_label(record)} at eps = {config['eps'] * 255:.4g}/255; every selected "
            f"network scored on the same {scored:,} test images{per_epoch}; rho on {extra['rho_images']} attacked "
            f"test images",
            f"Regular network{train}: clean accuracy {m['acc_regular_clean']:.1f}% on "
            f"{extra.get('clean_images', 'all the'):,} test images, under attack {m['acc_regular_attacked']:.1f}%",
            f"Robust network: clean accuracy {m['acc_star_clean']:.1f}%, Acc* = {m['acc_star']:.1f}%",
            f"Acc_sr = {m['acc_sr']:.1f}% -> Acc~ = {m['acc_tilde_unbiased']:.1f}% validation-selected",
            f"seed {m['seeds'][0]}: {first['converged_trials']} of {len(first['trials'])} trials came within k of "
            f"Acc* on the per-epoch test images (the paper's rule; stopping used the validation images); rho: "
            f"{m['rho_rule']}",
            f"Record {record['config_hash']} ({record['device']}, commit {record['git_commit'][:10]}, "
            f"{record['created_at']})"]


def _plus_minus(metrics: dict, key: str, unit: str = "%") -> str:
    """``metrics[key]`` to one decimal with its 95% half-width over seeds (``<key>_ci``) when there is one, and
    ``unit``; "not measured" when the record has no value."""
    ci = metrics.get(f"{key}_ci")
    if metrics.get(key) is None:
        return "not measured"
    return f"{metrics[key]:.1f}" + (f" ± {ci:.1f}" if ci is not None else "") + unit


def design_sentence(record: dict) -> str:
    """How one Table 1 cell measured, from its record: the data, the seeds, the scoring attack and its images,
    the per-epoch attack, the training attack and the final AutoAttack (the numbers the page's prose would
    otherwise type)."""
    config, m, extra = record["config"], record["metrics"], record["extra"]
    settings = extra.get("profile_settings", {})
    scored = extra.get("scored_images") or extra["eval_images"]
    score_iters = settings.get("score_apgd_iters") or 100
    score_attacks = " + ".join(a.upper() for a in settings.get("score_attacks") or ["apgd-ce"])
    worst = " (the worst case per image)" if len(settings.get("score_attacks") or []) > 1 else ""
    epoch_iters = settings.get("stopping_apgd_iters") or 100
    se = 100 * 0.5 / scored ** 0.5
    train = f"{extra['train_images']:,} training images, " if extra.get("train_images") else ""
    text = (f"{DATASET_NAMES.get(config['dataset'], config['dataset'])} at {config['eps'] * 255:g}/255, "
            f"{len(m['seeds'])} seed{'s' if len(m['seeds']) > 1 else ''}, {train}trained with "
            f"{extra.get('training_attack', 'PGD')}. Every selected network is scored once on the same {scored:,} "
            f"stratified test images under {score_attacks} with {score_iters} iterations each{worst} (a binomial standard "
            "error of at most "
            f"{se:.1f} points per accuracy); after every trial epoch APGD-CE with {epoch_iters} iterations runs on "
            f"{extra['eval_images']:,} test and {extra.get('val_images', 0):,} validation images (the paper's "
            "test-selected Acc~, stopping and the validation-selected Acc~).")
    aa_seeds = [s for s, p in zip(m["seeds"], m["per_seed"]) if p.get("acc_star_autoattack") is not None]
    if extra.get("final_autoattack_images") and aa_seeds:
        which = "the first seed" if len(aa_seeds) == 1 and len(m["seeds"]) > 1 else \
            f"every seed ({len(aa_seeds)})" if len(aa_seeds) == len(m["seeds"]) else f"seeds {aa_seeds}"
        text += (f" The full standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) runs once on Acc*'s and Algorithm "
                 f"1's final networks of {which} on {extra['final_autoattack_images']} of the scored images.")
    return text


def table1_verdict(record: dict) -> str:
    """The verdict of one Table 1 cell (seed means with their intervals): both networks, Acc*, Acc_sr, the
    validation-selected Acc~, and the final full AutoAttack where the epochs ran a cheaper attack. (The cost of the
    evaluation protocol against the authors' is the Algorithm 1 page's, :func:`paper_scale_cost`.)"""
    config, m, pm = record["config"], record["metrics"], lambda key: _plus_minus(record["metrics"], key)
    gap = m["acc_star"] - m["acc_tilde_unbiased"]
    verdict = (f"{config['arch']}, f_b = {config['fb_layers']}, eps {config['eps'] * 255:g}/255, seeds {m['seeds']}: "
               f"regular network {pm('acc_regular_clean')} clean and {pm('acc_regular_attacked')} attacked; Acc* "
               f"{pm('acc_star')}, Acc_sr {pm('acc_sr')}, Acc~ {pm('acc_tilde_unbiased')} (validation-selected, "
               f"{gap:.1f} points below Acc* on average).")
    aa_seeds = [s for s, p in zip(m["seeds"], m["per_seed"]) if p.get("acc_star_autoattack") is not None]
    if aa_seeds and attack_label(record) != config["attack"]:
        verdict += (f" Under the full standard AutoAttack, run once per final network of {len(aa_seeds)} seed(s) on "
                    f"{record['extra']['final_autoattack_images']} of the test images (APGD-CE alone on the same "
                    f"images in brackets): Acc* {pm('acc_star_autoattack')} ({pm('acc_star_autoattack_apgd_ce')}), "
                    f"Acc~ {pm('acc_tilde_unbiased_autoattack')} ({pm('acc_tilde_unbiased_autoattack_apgd_ce')}, "
                    f"validation-selected).")
    return verdict


def paper_scale_cost(dataset: str = "cifar10", robust: float = 0.45) -> str:
    """One sentence: gradient evaluations of a Table 1 cell at the paper profile's sizes on ``dataset`` (Acc*
    ``robust``) as this project runs Algorithm 1, against the authors' procedure
    (:func:`semirobust.cost.grad_evals_at_scale`; also with their 10 trials, and with APGD-CE on the whole
    validation and test sets after every epoch)."""
    scale = grad_evals_at_scale("paper", dataset, robust)
    scale10 = grad_evals_at_scale("paper", dataset, robust, trials=10)
    whole = grad_evals_at_scale(dataclasses.replace(get_profile("paper"), eval_subset=None), dataset, robust)
    return (f"At the paper profile's sizes on {DATASET_NAMES[dataset]} (Acc* {robust:.0%}), both procedures ending "
            f"with the full standard AutoAttack on the whole test set: {scale['ours']:.3g} gradient evaluations as "
            f"this project runs Algorithm 1 ({scale['trials']} trials of up to {scale['epochs']} epochs, APGD-CE on "
            f"{scale['per_epoch_images']:,} validation and test images after every epoch) against "
            f"{scale['authors']:.3g} for the authors' procedure: {scale['ratio']:.1f}x fewer ({scale10['ratio']:.1f}x "
            f"with the authors' 10 trials; {whole['ratio']:.1f}x if APGD-CE ran on the whole validation and test sets "
            f"after every epoch, {whole['stopping']:.3g} gradient evaluations for that alone; counted, not timed).")


def display_table(frame: pd.DataFrame, digits: int = 1, rho_digits: int = 2) -> pd.DataFrame:
    """A copy for display: accuracies to ``digits`` decimals with their 95% half-widths over seeds as
    "mean ± half" (joined by no-break spaces: a table cell never breaks inside it), rho to ``rho_digits``,
    missing values (f_b too small, not reported) blank."""
    shown = frame.copy()
    accuracies = ACC_COLUMNS + tuple(AUTOATTACK_COLUMNS)
    for column in accuracies:
        if column in shown:
            shown[column] = [("" if pd.isna(v) else f"{v:.{digits}f}") for v in shown[column]]
    for column in RHO_COLUMNS + tuple(f"{c} null" for c in RHO_COLUMNS):
        if column in shown:
            shown[column] = [("" if pd.isna(v) else f"{v:.{rho_digits}f}") for v in shown[column]]
    for column in accuracies:  # "mean ± 95% half-width" where the row has several seeds
        if f"{column} ci" in shown:
            shown[column] = [text if pd.isna(ci) or text == "" else f"{text}\u00a0±\u00a0{ci:.{digits}f}"
                             for text, ci in zip(shown[column], shown[f"{column} ci"])]
            shown = shown.drop(columns=f"{column} ci")
    if "seeds" in shown:
        shown["seeds"] = ["" if pd.isna(v) else f"{int(v)}" for v in shown["seeds"]]
    return shown


#: the marker of a rho that is not above its permutation null in every seed (explained in the caption).
NOT_ABOVE_NULL = "†"


def table1_parts(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Table 1 (from :func:`table1_frame` or :func:`compare_with_reported`) split into tables that fit the
    book's column, formatted for display: ``accuracy`` (Acc*, Acc_sr, Acc~, Diff, seeds), ``rho`` (rho_n,
    rho_{n-3}, ... with :data:`NOT_ABOVE_NULL` on a value not above its null, and the pairs above null) and,
    where measured, ``autoattack`` (the final networks under the full standard AutoAttack)."""
    shown = display_table(frame)
    keys = [c for c in ("Source", *KEY_COLUMNS) if c in shown]
    if "Source" in shown:
        shown["Source"] = [s.replace("reported (Table ", "paper (") for s in shown["Source"]]
    parts = {"accuracy": shown[keys + [c for c in (*ACC_COLUMNS, "seeds") if c in shown]]}
    rho = shown[keys + [c for c in RHO_COLUMNS if c in shown]].copy()
    for column in RHO_COLUMNS:
        flags = shown.get(f"{column} above null")
        if column in rho and flags is not None:
            rho[column] = [f"{v}{NOT_ABOVE_NULL}" if flag == "no" and v else v for v, flag in zip(rho[column], flags)]
    if "pairs above null" in shown:
        rho["pairs above null"] = shown["pairs above null"].fillna("")
    parts["rho"] = rho[[c for c in rho.columns if c in keys or (rho[c].fillna("") != "").any()]]
    autoattack = [c for c in AUTOATTACK_COLUMNS if c in shown]
    if autoattack and (shown[autoattack] != "").any().any():
        parts["autoattack"] = shown[keys + autoattack]
    return parts


def profile_stamp(profile: str, datasets) -> str:
    """The verdict boxes' line on the scale: ``profile offline, data set digits: a small-scale check, not the
    paper's scale`` (or ``... the paper's scale`` at the paper profile)."""
    names = [datasets] if isinstance(datasets, str) else sorted(set(datasets))
    shown = ", ".join(DATASET_NAMES.get(d, d) for d in names) or "(none)"
    plural = "s" if len(names) > 1 else ""
    scale = "the paper's scale" if profile == "paper" else "a small-scale check, not the paper's scale"
    return f"profile {profile}, data set{plural} {shown}: {scale}"


def table1_claim(record: dict) -> tuple[str, str, str]:
    """The Table 1 verdict box: (result, status, reading). The claim: adversarially training only f_b on the
    frozen f*_a brings the accuracy under attack back to within k of Acc*, i.e. Acc~ - Acc* above -k. Read on
    the validation-selected Acc~ (the paper's rule selects on the test set), with its 95% interval over seeds."""
    config, m = record["config"], record["metrics"]
    k = float(config["k"])
    diff = m.get("diff_unbiased")
    if diff is None and m.get("acc_tilde_unbiased") is not None:
        diff = m["acc_tilde_unbiased"] - m["acc_star"]
    if diff is None:
        return "Acc~ was not measured.", "not testable at this scale", reading("not testable at this scale", "")
    half = m.get("diff_unbiased_ci")
    seeds = m.get("seeds") or [config.get("seed", 0)]
    interval = f" ± {half:.1f}" if half is not None else ""
    result = (f"Acc~ - Acc* = {diff:+.1f}{interval} points validation-selected, Acc* {_plus_minus(m, 'acc_star')}: {MODEL_NAMES.get(config['arch'], config['arch'])}, "
              f"f_b = {config['fb_layers']}, {len(seeds)} seed{'s' if len(seeds) > 1 else ''}, {attack_label(record)} "
              f"at eps {float(config['eps']) * 255:g}/255.")
    low, high = (diff - half, diff + half) if half is not None else (None, None)
    status = interval_status(low, high, -k, "above")
    return result, status, reading(status, f"-k = {-k:g} point{'s' if k != 1 else ''}", "above",
                                   no_interval="one seed" if half is None else "")


__all__ = ["TABLE1_COLUMNS", "AUTOATTACK_COLUMNS", "RHO_OFFSETS", "RHO_COLUMNS", "rho_label", "rho_at", "table1_row", "table1_frame",
           "attack_label", "stamp_line", "load_reported", "reported_rows", "reported_note", "compare_with_reported", "headline_values", "SELECTED_KEYS",
           "display_table", "record_lines", "design_sentence", "table1_verdict", "paper_scale_cost", "NOT_ABOVE_NULL", "table1_parts",
           "profile_stamp", "table1_claim"]
