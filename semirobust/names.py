"""The names the library passes around as strings, as :class:`enum.StrEnum` types checked once at the boundary.

* :class:`TrainingMode`: the training modes of :data:`semirobust.training_methods.METHODS` (``training.train``,
  ``get_trained_model``, the f_b methods of Table S5);
* :class:`ArmName`: the arms of a Table 1 cell (:data:`semirobust.experiments.table1.arms.ARMS`, a profile's
  ``arms``);
* :class:`RecordKind`: every kind of record the library writes to the results store (:mod:`semirobust.results`).

A member *is* its string (``TrainingMode.ADVERSARIAL == "adversarial"``, same hash), and it stands for it
everywhere a plain string went before: f-strings, JSON records and config hashes, dict keys, and ``repr`` (so a
tuple of members, a profile or an error message prints as it did with strings). Record identities and cache keys
are therefore byte-identical to the strings'. What the library pickles into files (a cached network's config, a
checkpoint's fingerprint) holds the plain string (``member.value``), so those files load with
``torch.load(weights_only=True)`` and without this module.

:func:`parse_choice` is the one check: a plain string from a user becomes the member, anything else is a
ValueError naming the valid values (:func:`check_choice`'s wording), before any compute. Inside the library a
member is trusted: :func:`parse_choice` of a member is the member itself.
"""
from __future__ import annotations

from enum import StrEnum


class Name(StrEnum):
    """A StrEnum whose members read and print as their plain string values (see the module docstring)."""

    def __repr__(self) -> str:
        return repr(self._value_)


class TrainingMode(Name):
    """How a network (or f_b) is trained: the keys of :data:`semirobust.training_methods.METHODS`."""

    STANDARD = "standard"
    ADVERSARIAL = "adversarial"
    FGSM_RS = "fgsm_rs"
    TRADES = "trades"
    ATTA = "atta"


class ArmName(Name):
    """The arms of a Table 1 cell: the keys of :data:`semirobust.experiments.table1.arms.ARMS`."""

    ALGORITHM1 = "algorithm1"
    RANDOM_FA = "random_fa"
    REGULAR_FA = "regular_fa"
    STANDARD_FB = "standard_fb"
    FULL_FINETUNE = "full_finetune"
    FAST_FA = "fast_fa"
    ATTA_FB = "atta_fb"
    TRADES_FB = "trades_fb"


class RecordKind(Name):
    """Every kind of record the library writes (``<results>/<kind>/<config_hash>.json``); the modules that write
    them keep their older names (e.g. ``semirobust.experiments.table1.configs.TRIAL_KIND``) as aliases."""

    # Table 1 (semirobust.experiments.table1)
    ALGORITHM1_TRIAL = "algorithm1_trial"
    ALGORITHM1_REFERENCE = "algorithm1_reference"
    ALGORITHM1_SCORE = "algorithm1_score"
    ALGORITHM1_AUTOATTACK = "algorithm1_autoattack"
    ALGORITHM1_ARM = "algorithm1_arm"
    TABLE1_SEED = "table1_seed"
    TABLE1 = "table1"
    # the supplementary's studies (semirobust.experiments.supplementary)
    BUDGET_EVAL = "budget_eval"
    BUDGET_CW_NORMS = "budget_cw_norms"
    BUDGET_CW_STRENGTH = "budget_cw_strength"
    TRADES_CHECK = "trades_check"
    PAYS_POINT = "pays_point"
    PAYS_SEED = "pays_seed"
    PAYS_FINAL = "pays_final"
    # the rho estimator and the theory (semirobust.experiments.rho, .theory)
    MI_ESTIMATOR = "mi_estimator"
    WEIGHT_BOUND = "weight_bound"
    THEOREM3 = "theorem3"
    # a sweep's finished cell (semirobust.pipeline)
    SWEEP_CELL = "sweep_cell"


#: what a value of each of the types is called in an error message
LABELS = {TrainingMode: "training mode", ArmName: "arm", RecordKind: "record kind"}


def check_choice(kind: str, value, choices) -> None:
    """Raise a ValueError naming the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"Unknown {kind} {value!r}; valid {kind}s: {', '.join(map(str, choices))}.")


def parse_choice(kind: str, value, names: type[Name]) -> Name:
    """``value`` as the member of ``names`` (a member is returned as it is); a ValueError naming the valid values
    otherwise, e.g. "Unknown training mode 'pgd'; valid training modes: standard, adversarial, ..."."""
    if isinstance(value, names):
        return value
    check_choice(kind, value, tuple(names))
    return names(value)


def parse_choices(kind: str, values, names: type[Name]) -> tuple:
    """:func:`parse_choice` of each of ``values`` (a tuple or a list), as a tuple."""
    if not isinstance(values, (tuple, list)):
        raise ValueError(f"{kind}s={values!r} must be a tuple of names, e.g. {(str(next(iter(names))),)!r}.")
    return tuple(parse_choice(kind, value, names) for value in values)


def set_members(obj, **fields: type[Name]) -> None:
    """Replace each of ``fields`` of the frozen dataclass ``obj`` (a tuple or list of names; None stays None) by the
    tuple of its members (:func:`parse_choices`, errors named by :data:`LABELS`): how a
    :class:`semirobust.config.Profile` checks its arms and Table S5 methods once, when it is built."""
    for field, names in fields.items():
        if getattr(obj, field) is not None:
            object.__setattr__(obj, field, parse_choices(LABELS[names], getattr(obj, field), names))


__all__ = ["Name", "TrainingMode", "ArmName", "RecordKind", "LABELS", "check_choice", "parse_choice", "parse_choices",
           "set_members"]
