"""One seed of one Table 1 cell as every step of it sees it (:class:`SeedCell`), and the loader of a trial's
selected network from the cache (:func:`trial_network`)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from semirobust.config import RunConfig
from semirobust.experiments.table1.configs import trial_config
from semirobust.experiments.table1.evaluation import Evaluation, best_checkpoint
from semirobust.models import combine_fa_fb
from semirobust.results import ResultsStore
from semirobust.utils import config_hash


@dataclasses.dataclass(frozen=True)
class SeedCell:
    """What every step of one seed of one Table 1 cell shares: its settings, store, images and networks."""

    config: RunConfig
    profile: object
    store: ResultsStore
    evaluation: Evaluation
    regular: torch.nn.Module
    robust: torch.nn.Module
    random: torch.nn.Module  # the seed's untrained network (the random f_a of the ``random_fa`` arm)
    models: tuple[str, str]  # config hashes of the regular and the robust network
    summary: dict  # the seed record's identity (summary_config)
    cache: Path
    #: further f_a sources of the later studies' arms (``fgsm_rs``: the seed's FGSM-RS network)
    sources: dict = dataclasses.field(default_factory=dict)

    def final_autoattack_images(self, wanted: bool) -> int | None:
        """How many test images the final full AutoAttack runs on (None when it does not run)."""
        n = self.profile.final_autoattack_images
        if n == 0 or not wanted:
            return None
        return len(self.evaluation.final_images(n)[1])


def trial_network(cell: SeedCell, arm: str, trial: int, selection: str):
    """A loader of the best-epoch network (``selection`` "test" or "val") of ``arm``'s trial ``trial``; the
    loader returns None when the checkpoint is gone from the cache."""
    tconfig = trial_config(cell.summary, trial, *cell.models, arm=arm)
    path = best_checkpoint(cell.cache / "algorithm1" / config_hash(tconfig), selection)

    def load():
        if not path.exists():
            return None
        net = combine_fa_fb(cell.robust, cell.regular, cell.config.fb_layers)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net
    return load


__all__ = ["SeedCell", "trial_network"]
