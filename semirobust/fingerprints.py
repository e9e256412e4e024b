"""Which training code counts as the same for the network cache.

A trained network is cached under a key that holds a fingerprint of the code it depends on
(:data:`semirobust.training.TRAINING_MODULES`), so a changed network definition is never served from the cache.
A change that only moves code between those modules, or adds a check that valid input passes, changes the
fingerprint without changing one weight; :data:`EQUIVALENT_FINGERPRINTS` names such code and the earlier
fingerprint it trains the same networks as, so the cached networks and the records built on them stay valid.
This module is not fingerprinted itself (a new entry would otherwise change the fingerprint it names).

An entry needs evidence: ``tests/test_training_methods.py`` pins every training method's weights as the earlier
code trained them, and the listed code must reproduce them bit for bit. Any other change gives a fingerprint not
listed here, and the cache misses, as it should.
"""
from __future__ import annotations

#: fingerprint of the current code -> the earlier fingerprint whose networks it reproduces bit for bit
EQUIVALENT_FINGERPRINTS = {
    # issues 32 and 33: training methods as objects, checkpoints in a module of their own, attacks check that
    # images lie in [0, 1]; pinned weights of every method reproduced, and the offline profile's VGG16 regular
    # and robust (PGD-5) networks (Fashion-MNIST, seed 0) retrained by this code equal to the cached ones, tensor for
    # tensor
    "8f9d87d1280188e0": "d4152d289c624af0",  # standard and PGD training
    "11f617be4de02620": "105b9216139727fa",  # FGSM-RS, TRADES, ATTA (at_methods included)
    # issue 32 (5): the training mode a semirobust.names.TrainingMode (get_method converts a plain string once;
    # cache keys and checkpoints hold its plain string as before); every method's pinned weights reproduced, and each
    # method's weights (full network and f_b), checkpoint fingerprint and get_trained_model's cache key equal to the
    # code before it (commit e307536), tensor for tensor
    "2657eb08400d8e1a": "2f421796fe5a1741",  # standard and PGD training
    "729c6e9cc9d11983": "e97223fe465f1657",  # FGSM-RS, TRADES, ATTA (at_methods included)
    # issue 37 (2), on top of the above: the augmentation an explicit transform (semirobust.augmentation, the same
    # draws bit for bit) and ATTA's carried perturbations following their pixels under it; standard and PGD
    # training's pinned weights (augmented) reproduced. The modes of semirobust.at_methods get a new fingerprint:
    # ATTA's augmented networks differ (FGSM-RS's and TRADES's do not, but they share that fingerprint).
    "709c02f41057b67b": "2f421796fe5a1741",  # standard and PGD training
}


def canonical_fingerprint(fingerprint: str) -> str:
    """The earlier fingerprint ``fingerprint`` is listed as equivalent to, or ``fingerprint`` itself."""
    return EQUIVALENT_FINGERPRINTS.get(fingerprint, fingerprint)


__all__ = ["EQUIVALENT_FINGERPRINTS", "canonical_fingerprint"]
