"""semirobust: reproducible companion to "Does the half adversarial robustness represent the whole?".

Public API (documented, used by the notebooks and outside checks):
``load_dataset``, ``build_model``, ``trainable_layers``, ``split_fa_fb``, ``combine_fa_fb``.
"""
from semirobust.data import load_dataset
from semirobust.models import build_model, combine_fa_fb, split_fa_fb, trainable_layers

__version__ = "0.1.0"
__all__ = ["load_dataset", "build_model", "trainable_layers", "split_fa_fb", "combine_fa_fb", "__version__"]
