"""semirobust: reproducible companion to "Does the half adversarial robustness represent the whole?".

Public API of the core layer (what the README and notebooks use; the paper's experiments are in
``semirobust.experiments``, the command line and book build in ``semirobust.pipeline``):

* data and networks: ``load_dataset``, ``build_model``, ``trainable_layers``, ``split_fa_fb``, ``combine_fa_fb``;
* configuration: ``RunConfig``, ``get_profile``;
* attacks and training: ``make_attack``, ``get_trained_model``;
* dependence: ``edge_mi``, ``calibrated_mi``, ``ksg_mi``, ``linear_cka``, ``layer_rhos``;
* records: ``ResultsStore``.
"""
from semirobust.attacks import make_attack
from semirobust.config import RunConfig, get_profile
from semirobust.data import load_dataset
from semirobust.mi import calibrated_mi, edge_mi, ksg_mi, linear_cka
from semirobust.models import build_model, combine_fa_fb, split_fa_fb, trainable_layers
from semirobust.results import ResultsStore
from semirobust.rho import layer_rhos
from semirobust.training import get_trained_model

__version__ = "0.1.0"
__all__ = ["load_dataset", "build_model", "trainable_layers", "split_fa_fb", "combine_fa_fb", "RunConfig",
           "get_profile", "make_attack", "get_trained_model", "edge_mi", "calibrated_mi", "ksg_mi", "linear_cka",
           "layer_rhos", "ResultsStore", "__version__"]
