"""semirobust.checkpoints: a damaged cached network or run checkpoint is moved aside, named in a warning, and
the network is rebuilt (resumed from the previous epoch's checkpoint when that one is readable)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from test_training_methods import PROFILE, tiny_data
from tiny import make_tiny_profile

from semirobust.checkpoints import CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME
from semirobust.training import get_trained_model, train

#: what each kind of damage leaves of a file
DAMAGE = {"truncated": lambda data: data[: len(data) // 2], "empty": lambda data: b"",
          "not a torch file": lambda data: b"model weights\n"}


def damage(path: Path, how: str) -> bytes:
    """Damage ``path`` ``how`` and return what it now holds."""
    path.write_bytes(DAMAGE[how](path.read_bytes()))
    return path.read_bytes()


def moved_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("how", list(DAMAGE))
def test_an_unreadable_cached_network_is_moved_aside_and_rebuilt(how, tmp_path):
    args = dict(profile=make_tiny_profile(width=0.0625, batch_size=20), device="cpu", cache_dir=tmp_path,
                progress=False)
    first, info = get_trained_model("vgg16", "digits", **args)
    path = Path(info["path"])
    damaged = damage(path, how)
    with pytest.warns(RuntimeWarning, match=re.escape(str(path))):
        rebuilt, again = get_trained_model("vgg16", "digits", **args)
    assert not again["from_cache"] and again["config_hash"] == info["config_hash"]
    assert same_weights(rebuilt, first)  # trained again, to the same weights on the CPU
    aside = moved_aside(path)
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached, third = get_trained_model("vgg16", "digits", **args)
    assert third["from_cache"] and same_weights(cached, first)


@pytest.mark.parametrize("how", ["truncated", "empty"])
def test_an_unreadable_run_checkpoint_resumes_from_the_previous_epoch(how, tmp_path, tiny_convnet):
    args = dict(profile=PROFILE, mode="adversarial", device="cpu", seed=3, progress=False, lr=0.1,
                checkpoint_dir=tmp_path)
    model = tiny_convnet(seed=1)
    whole = train(model, tiny_data(), **args)
    path = tmp_path / CHECKPOINT_NAME
    damaged = damage(path, how)
    with pytest.warns(RuntimeWarning, match=re.escape(str(path))):
        resumed = train(tiny_convnet(seed=1), tiny_data(), **args)
    assert resumed.history[0] == whole.history[0]  # epoch 1 read from the previous checkpoint, not rerun
    assert resumed.history[1]["time_s"] != whole.history[1]["time_s"]  # epoch 2 trained again
    assert same_weights(resumed.model, model)
    assert [p.read_bytes() for p in moved_aside(path)] == [damaged]


def test_with_no_readable_run_checkpoint_the_network_is_trained_again(tmp_path, tiny_convnet):
    args = dict(profile=PROFILE, mode="standard", device="cpu", seed=3, progress=False, checkpoint_dir=tmp_path)
    model = tiny_convnet(seed=1)
    whole = train(model, tiny_data(), **args)
    latest, previous = tmp_path / CHECKPOINT_NAME, tmp_path / PREVIOUS_CHECKPOINT_NAME
    damage(latest, "empty"), damage(previous, "truncated")
    with pytest.warns(RuntimeWarning) as caught:
        again = train(tiny_convnet(seed=1), tiny_data(), **args)
    named = " ".join(str(w.message) for w in caught)
    assert str(latest) in named and str(previous) in named
    assert again.history[0]["time_s"] != whole.history[0]["time_s"]  # from scratch
    assert same_weights(again.model, model)
    assert len(moved_aside(latest)) == 1 and len(moved_aside(previous)) == 1
