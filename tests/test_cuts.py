"""Where the f_a / f_b cut falls in a residual network, and which rho pairs are siblings, not a chain."""
from __future__ import annotations

import pytest

from semirobust import cuts
from semirobust.models import build_model


@pytest.fixture(scope="module")
def resnet():
    return build_model("resnet50", "digits", width=0.0625)


@pytest.mark.parametrize("fb, first, mid, shortcut, siblings", [
    (4, "net.layer4.2.conv1", False, False, 0),
    (8, "net.layer4.0.downsample.0", False, True, 1),  # rho_{a+1} itself joins the siblings
    (9, "net.layer4.0.conv3", True, False, 1),
    (16, "net.layer3.4.conv2", True, False, 1),
])
def test_resnet50_cuts(resnet, fb, first, mid, shortcut, siblings):
    cut = cuts.describe_cut(resnet, fb)
    assert (cut["first_fb_layer"], cut["mid_block"], cut["on_shortcut"]) == (first, mid, shortcut)
    assert len(cut["sibling_pairs"]) == siblings and cut["pairs"] == fb
    if siblings:
        assert cut["sibling_pairs"][0] == ("net.layer4.0.conv3", "net.layer4.0.downsample.0")


def test_chain_networks_have_clean_cuts_and_notes_say_what_is_wrong(resnet):
    vgg = build_model("vgg16", "digits", width=0.0625)
    assert cuts.cut_note(vgg, 12) == "" and cuts.describe_cut(vgg, 12)["sibling_pairs"] == []
    note = cuts.cut_note(resnet, 16, "ResNet50")
    assert note.startswith("ResNet50: f_b = 16 starts mid-block") and "parallel shortcut" in note
    with pytest.warns(UserWarning, match="mid-block"):
        cuts.warn_cut(resnet, 16)
    with pytest.raises(ValueError, match="fb_layers"):
        cuts.describe_cut(resnet, 54)
