"""The arms of a Table 1 cell: Algorithm 1 and the controls that say what the robust f*_a contributes.

Every arm starts a trial from a network whose f_b is the regular network's (as Algorithm 1 does) and whose
f_a comes from one of three sources, then trains with the same trial budget (T trials of at most E epochs,
the same stopping rule and the same seeds), so the arms are paired by seed:

- ``algorithm1``: frozen robust f*_a, adversarial training of f_b (the paper);
- ``random_fa``: frozen *random* f_a, the seed's initialisation of the network (never trained);
- ``regular_fa``: frozen *regular* f_a, adversarial training of f_b;
- ``standard_fb``: frozen f*_a, *standard* training of f_b, no attack (robust transfer learning,
  Shafahi et al., ICLR 2020);
- ``full_finetune``: (f*_a, f_b) adversarially fine-tuned as a whole, f_a included (what freezing costs).

The later studies add arms of the same shape, run on a finished seed (:func:`semirobust.experiments.table1.algorithm1.run_arms`):

- ``fast_fa``: frozen f_a of the FGSM-RS network (Wong et al. 2020), adversarial training of f_b: semirobustness
  from a cheap robust part (the cost frontier, semirobust.experiments.supplementary.pays);
- ``atta_fb`` and ``trades_fb``: frozen f*_a, f_b trained with ATTA or TRADES instead of PGD (Table S5).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from semirobust.config import ARCH_SPECS
from semirobust.models import build_model, combine_fa_fb
from semirobust.names import ArmName, TrainingMode
from semirobust.utils import seed_everything


@dataclass(frozen=True)
class Arm:
    """One way of training f_b (or the whole network) from a frozen f_a."""

    name: ArmName
    label: str  # the reader's name of the arm
    fa: str  # where f_a comes from: "robust" (f*_a), "random" (the seed's initialisation), "regular" or "fgsm_rs"
    mode: TrainingMode  # training of f_b ("adversarial": the training PGD; "standard": no attack)
    train_fa: bool = False  # True: f_a is trained too (full-network fine-tuning)


#: every arm by its :class:`~semirobust.names.ArmName`, in that enum's order
ARMS = {arm.name: arm for arm in (
    Arm(ArmName.ALGORITHM1, "frozen f*_a, adversarial f_b (Algorithm 1)", "robust", TrainingMode.ADVERSARIAL),
    Arm(ArmName.RANDOM_FA, "frozen random f_a, adversarial f_b", "random", TrainingMode.ADVERSARIAL),
    Arm(ArmName.REGULAR_FA, "frozen regular f_a, adversarial f_b", "regular", TrainingMode.ADVERSARIAL),
    Arm(ArmName.STANDARD_FB, "frozen f*_a, standard f_b (robust transfer)", "robust", TrainingMode.STANDARD),
    Arm(ArmName.FULL_FINETUNE, "(f*_a, f_b) fine-tuned whole, adversarially", "robust", TrainingMode.ADVERSARIAL,
        train_fa=True),
    Arm(ArmName.FAST_FA, "frozen FGSM-RS f_a, adversarial f_b", "fgsm_rs", TrainingMode.ADVERSARIAL),
    Arm(ArmName.ATTA_FB, "frozen f*_a, ATTA f_b", "robust", TrainingMode.ATTA),
    Arm(ArmName.TRADES_FB, "frozen f*_a, TRADES f_b", "robust", TrainingMode.TRADES),
)}
#: the control arms of a Table 1 cell, in the order pages show them
CONTROLS = (ArmName.RANDOM_FA, ArmName.REGULAR_FA, ArmName.STANDARD_FB, ArmName.FULL_FINETUNE)
#: the f_b training method of each Table S5 row (a :class:`~semirobust.names.TrainingMode`) and the arm that runs it
TABLE_S5_ARMS = {TrainingMode.ADVERSARIAL: ArmName.ALGORITHM1, TrainingMode.ATTA: ArmName.ATTA_FB,
                 TrainingMode.TRADES: ArmName.TRADES_FB}


def cell_arms(profile, arch: str, fb_layers: int) -> tuple[ArmName, ...]:
    """The arms one cell runs: the profile's ``arms`` in a Table 1 cell (the paper's f_b size of ``arch``),
    Algorithm 1 alone at any other f_b size (Figure 2's sizes). Algorithm 1 always comes first. The profile's arms
    are members of :class:`~semirobust.names.ArmName`, checked when the profile was built."""
    if fb_layers != ARCH_SPECS[arch].paper_fb_layers:
        return (ArmName.ALGORITHM1,)
    return (ArmName.ALGORITHM1,) + tuple(name for name in profile.arms if name != ArmName.ALGORITHM1)


def initial_network(arch: str, dataset: str, width: float, seed: int) -> torch.nn.Module:
    """The seed's untrained network: the weights :func:`semirobust.training.get_trained_model` starts its
    regular and robust training from (the same seeding, then the same builder)."""
    seed_everything(seed)
    return build_model(arch, dataset, width=width).eval()


def start_network(arm: Arm, fb_layers: int, *, regular, **sources) -> torch.nn.Module:
    """A trial's starting network: f_a from the arm's source (``regular`` or one of ``sources``: ``robust``,
    ``random``, ``fgsm_rs``), f_b from the regular network."""
    source = regular if arm.fa == "regular" else sources.get(arm.fa)
    if source is None:
        raise ValueError(f"arm {arm.name!r} takes f_a from the {arm.fa!r} network, which this cell does not have.")
    return combine_fa_fb(source, regular, fb_layers)


__all__ = ["ArmName", "Arm", "ARMS", "CONTROLS", "TABLE_S5_ARMS", "cell_arms", "initial_network", "start_network"]
