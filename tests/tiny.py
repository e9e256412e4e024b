"""The tiny profile every test that trains shares: the smoke profile cut to the smallest run that still
exercises every step of Algorithm 1 and the theory runs (imported by conftest's ``tiny_profile`` fixture and
by module-level helpers that cannot take fixtures)."""
from __future__ import annotations

import dataclasses

from semirobust.config import Profile, get_profile

#: 100 training images, one epoch, 60 test images of which 40 are attacked, 120 images for rho (>= 10 per
#: class, EDGE's minimum) and the final AutoAttack on 16.
TINY = dict(train_subset=100, test_subset=60, eval_subset=40, rho_samples=120, epochs=1, milestones=(),
            final_autoattack_images=16)


def make_tiny_profile(**changes) -> Profile:
    """The smoke profile with :data:`TINY`'s sizes, and ``changes`` on top."""
    return dataclasses.replace(get_profile("smoke"), **{**TINY, **changes})
