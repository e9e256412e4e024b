"""The guard against a failed run shown as a result: an arm whose network did not train.

A network that collapses to (nearly) uniform outputs has a training loss of ln C (the cross-entropy of the uniform
prediction over C classes) and a training accuracy near chance, 100/C %; its accuracy under attack is then a
collapsed network's, and a Diff = Acc~ - Acc* built on it reads a failure as a result. A trial is *collapsed*
when the last epoch of its training curve (the record's ``train_loss`` and ``train_acc``) has

* a loss within :data:`LOSS_TOLERANCE` nats of ln C (the uniform prediction's loss), or
* a training accuracy within :data:`CHANCE_MARGIN` points of chance (at most 100/C + the margin), or
* a loss within :data:`NEAR_UNIFORM_FRACTION` of ln C together with a training accuracy within
  :data:`NEAR_UNIFORM_MARGIN` points of chance (a collapse to nearly uniform outputs: the offline build's TRADES
  arm ended at 2.24 against ln 10 = 2.30 with 24%; a weak network with a clearly better accuracy is not one);

an arm *did not train* in a seed when every one of its trials collapsed (one trained trial is what the selection
of Algorithm 1 picks). Pages show such an arm's Diff as its diagnosis, never as a number.
"""
from __future__ import annotations

import math

import numpy as np

#: |training loss - ln C| at or below this (nats) reads as the uniform prediction's loss
LOSS_TOLERANCE = 0.05
#: |training loss - ln C| at or below this fraction of ln C reads as nearly uniform (with a low accuracy)
NEAR_UNIFORM_FRACTION = 0.05
#: a training accuracy at most this many points above chance (100/C %) reads as chance
CHANCE_MARGIN = 10.0
#: with a loss near ln C, a training accuracy at most this many points above chance reads as a collapse
NEAR_UNIFORM_MARGIN = 15.0


def last_epoch(trial: dict) -> dict:
    """The last point of a trial's training curve (``train_loss``, ``train_acc``)."""
    curve = trial.get("curve") or []
    if not curve or "train_loss" not in curve[-1] or "train_acc" not in curve[-1]:
        raise ValueError(f"trial {trial.get('trial')!r} has no training curve with train_loss and train_acc.")
    return curve[-1]


def _at_uniform_loss(loss: float, num_classes: int) -> bool:
    return abs(loss - math.log(num_classes)) <= LOSS_TOLERANCE


def _near_uniform_loss(loss: float, num_classes: int) -> bool:
    return abs(loss - math.log(num_classes)) <= NEAR_UNIFORM_FRACTION * math.log(num_classes)


def collapsed(loss: float, acc: float, num_classes: int) -> bool:
    """The module's rule: ``loss`` at ln ``num_classes``, ``acc`` (%) at chance, or both near them."""
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} must be at least 2.")
    chance = 100.0 / num_classes
    return (_at_uniform_loss(loss, num_classes) or acc <= chance + CHANCE_MARGIN
            or (_near_uniform_loss(loss, num_classes) and acc <= chance + NEAR_UNIFORM_MARGIN))


def arm_diagnosis(arm: dict, num_classes: int) -> dict:
    """One arm in one seed (its record metrics, with ``trials``): the mean last-epoch training loss and accuracy
    over its trials, how many trials collapsed, and ``did_not_train`` (every trial collapsed)."""
    ends = [last_epoch(t) for t in arm["trials"]]
    if not ends:
        raise ValueError("the arm has no trials.")
    flags = [collapsed(e["train_loss"], e["train_acc"], num_classes) for e in ends]
    return {"loss": float(np.mean([e["train_loss"] for e in ends])),
            "acc": float(np.mean([e["train_acc"] for e in ends])), "trials": len(ends),
            "collapsed_trials": int(sum(flags)), "did_not_train": all(flags), "num_classes": int(num_classes)}


def diagnosis_text(diagnosis: dict) -> str:
    """``did not train: loss 2.30 = ln 10, training accuracy 19%`` (the cell a Diff gives way to); the loss is
    compared with ln C in words when it is not within the tolerance."""
    c = diagnosis["num_classes"]
    loss, acc = diagnosis["loss"], diagnosis["acc"]
    at_ln = _near_uniform_loss(loss, c)
    loss_text = (f"loss {loss:.2f} = ln {c}" if f"{loss:.2f}" == f"{math.log(c):.2f}" else
                 f"loss {loss:.2f}, near ln {c} = {math.log(c):.2f}") if at_ln else f"loss {loss:.2f} (ln {c} = {math.log(c):.2f})"
    return f"did not train: {loss_text}, training accuracy {acc:.0f}%"


def rule_text(num_classes: int) -> str:
    """The guard's rule in words, with its numbers for ``num_classes`` classes."""
    chance = 100.0 / num_classes
    return (f"a trial counts as collapsed when its last epoch's training loss is within {LOSS_TOLERANCE:g} of "
            f"ln {num_classes} = {math.log(num_classes):.2f}, or its training accuracy is at most "
            f"{chance + CHANCE_MARGIN:g}% (chance {chance:g}% + {CHANCE_MARGIN:g} points), or its loss is within "
            f"{NEAR_UNIFORM_FRACTION:.0%} of ln {num_classes} with a training accuracy of at most "
            f"{chance + NEAR_UNIFORM_MARGIN:g}%; an arm did not train when every trial collapsed")


__all__ = ["LOSS_TOLERANCE", "CHANCE_MARGIN", "NEAR_UNIFORM_FRACTION", "NEAR_UNIFORM_MARGIN", "last_epoch", "collapsed", "arm_diagnosis", "diagnosis_text",
           "rule_text"]
