"""semirobust.attacks on a small VGG16 trained on digits inside the test session (smoke profile)."""
from __future__ import annotations

import time

import pytest
import torch

from semirobust.attacks import (
    LINF_ATTACKS,
    adversarial_accuracy,
    attack_tensors,
    clean_accuracy,
    make_attack,
    paper_schedule,
)
from semirobust.config import get_profile
from semirobust.data import dataset_tensors, load_dataset, make_loader
from semirobust.training import get_trained_model
from semirobust.utils import frozen

EPS = 8 / 255
N_TEST = 128  # images attacked by the fast attacks
# AutoAttack standard costs ~2,000 forward-backward passes and 5,000 queries per robust batch
# whatever its size: 16 images took 20-90 s per backend on a 2-core CPU (more when it is busy).
N_AUTOATTACK = 16


@pytest.fixture(scope="module")
def model(_session_cache_dir):
    """VGG16 (width 0.125) trained on digits at the smoke profile, cached for the whole session."""
    net, _ = get_trained_model("vgg16", "digits", mode="standard", profile=get_profile("smoke"),
                               device="cpu", cache_dir=_session_cache_dir, progress=False)
    return net


@pytest.fixture(scope="module")
def test_data():
    return dataset_tensors(load_dataset("digits", "test"), limit=N_TEST)


@pytest.fixture(scope="module")
def clean(model, test_data):
    return clean_accuracy(model, test_data, progress=False)


def test_paper_schedule_matches_section_3_1():
    assert [paper_schedule(e / 255)["steps"] for e in (8, 16, 32)] == [10, 20, 36]
    assert paper_schedule(8 / 255)["alpha"] == pytest.approx(1 / 255)
    pgd = make_attack("pgd", torch.nn.Linear(1, 1), 16 / 255)
    assert pgd.params["steps"] == 20 and pgd.params["random_start"] is True
    assert make_attack("pgd", torch.nn.Linear(1, 1), 16 / 255, steps=3, alpha=0.01).params["steps"] == 3


@pytest.mark.slow
def test_trained_model_is_usable(clean):
    assert clean > 50, f"the smoke VGG16 reached only {clean:.1f}% clean accuracy on digits"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in LINF_ATTACKS if n != "autoattack"])
def test_linf_attacks_stay_in_box_and_ball(model, test_data, name):
    X, y = test_data
    X_adv = make_attack(name, model, EPS)(X, y)
    assert X_adv.shape == X.shape
    assert X_adv.min() >= 0 and X_adv.max() <= 1
    assert (X_adv - X).abs().max() <= EPS + 1e-6
    assert (X_adv != X).any(), f"{name} changed no pixel"


@pytest.mark.slow
def test_cw_is_l2_and_l2_eps_is_enforced(model, test_data):
    X, y = test_data[0][:32], test_data[1][:32]
    X_adv = make_attack("cw", model, EPS, steps=20)(X, y)
    assert X_adv.min() >= 0 and X_adv.max() <= 1
    dist = (X_adv - X).flatten(1).norm(dim=1)
    bound = float(dist[dist > 0].median()) if (dist > 0).any() else 0.0
    X_bounded = make_attack("cw", model, EPS, steps=20, l2_eps=bound)(X, y)
    assert (X_bounded - X).flatten(1).norm(dim=1).max() <= bound + 1e-6


@pytest.mark.slow
def test_adversarial_accuracy_is_below_clean(model, test_data, clean):
    for name, overrides in (("fgsm", {}), ("ifgsm", {}), ("pgd", {}), ("cw", {"steps": 20})):
        adv = adversarial_accuracy(model, test_data, name, eps=EPS, progress=False, **overrides)
        assert 0 <= adv <= clean, f"{name}: adversarial {adv:.1f}% > clean {clean:.1f}%"


@pytest.mark.slow
def test_ifgsm_is_at_least_as_strong_as_fgsm(model, test_data):
    fgsm = adversarial_accuracy(model, test_data, "fgsm", eps=EPS, progress=False)
    ifgsm = adversarial_accuracy(model, test_data, "ifgsm", eps=EPS, progress=False)
    assert ifgsm <= fgsm


@pytest.mark.slow
def test_accuracy_falls_as_eps_grows(model, test_data):
    accs = [adversarial_accuracy(model, test_data, "pgd", eps=e / 255, progress=False) for e in (8, 16, 32)]
    print(f"\nPGD accuracy at eps 8, 16, 32 /255: {accs}")
    assert accs[0] >= accs[1] >= accs[2]
    assert accs[2] < accs[0]


@pytest.mark.slow
def test_pgd_against_fgsm_is_measured(model, test_data, clean, record_property):
    """Reported, not assumed: PGD (random start, step 1/255, 10 steps) vs FGSM (one step of eps)."""
    torch.manual_seed(0)
    fgsm = adversarial_accuracy(model, test_data, "fgsm", eps=EPS, progress=False)
    pgd = adversarial_accuracy(model, test_data, "pgd", eps=EPS, progress=False)
    pgd_strong = adversarial_accuracy(model, test_data, "pgd", eps=EPS, alpha=2 / 255, steps=20, progress=False)
    print(f"\nclean {clean:.1f}%  FGSM {fgsm:.1f}%  PGD paper schedule {pgd:.1f}%  PGD 20x2/255 {pgd_strong:.1f}%")
    record_property("accuracy_clean_fgsm_pgd_pgd20", (clean, fgsm, pgd, pgd_strong))
    assert max(fgsm, pgd, pgd_strong) <= clean
    assert pgd_strong <= pgd + 100 / N_TEST * 2  # more and larger steps are not weaker (2 images of noise)


@pytest.mark.slow
def test_autoattack_backends_agree(model, test_data, record_property):
    X, y = test_data[0][:N_AUTOATTACK], test_data[1][:N_AUTOATTACK]
    torch.manual_seed(0)
    timings, accs = {}, {}
    for backend in ("pyautoattack", "torchattacks"):
        start = time.perf_counter()
        attack = make_attack("autoattack", model, EPS, backend=backend)
        rng = torch.get_rng_state()
        X_adv = attack_tensors(model, X, y, attack, progress=False)
        timings[backend] = time.perf_counter() - start
        assert torch.equal(torch.get_rng_state(), rng), "AutoAttack reseeded the caller's RNG"
        assert X_adv.min() >= 0 and X_adv.max() <= 1 and (X_adv - X).abs().max() <= EPS + 1e-6
        accs[backend] = clean_accuracy(model, (X_adv, y), progress=False)
    pgd = adversarial_accuracy(model, (X, y), "pgd", eps=EPS, progress=False)
    print(f"\nAutoAttack on {N_AUTOATTACK} images: accuracy {accs}, seconds {timings}; PGD-10 {pgd:.1f}%")
    record_property("autoattack_accuracy", accs)
    record_property("autoattack_seconds", timings)
    assert abs(accs["pyautoattack"] - accs["torchattacks"]) <= 100 / N_AUTOATTACK  # at most one image apart
    assert accs["pyautoattack"] <= pgd  # AutoAttack is no weaker than PGD-10


@pytest.mark.slow
def test_autoattack_subset_runs_only_the_attacks_asked_for(model, test_data):
    """``attacks=[...]`` keeps the standard settings and order; APGD-CE alone is never stronger than the full
    standard AutoAttack (which starts with the same APGD-CE run on the same seed)."""
    X, y = test_data[0][:N_AUTOATTACK], test_data[1][:N_AUTOATTACK]
    subset = make_attack("autoattack", model, EPS, attacks=["square", "apgd-ce"])
    assert subset.describe()["attacks"] == ["apgd-ce", "square"] and subset.describe()["version"] == "standard"
    apgd = make_attack("autoattack", model, EPS, attacks="apgd-ce")
    full = make_attack("autoattack", model, EPS)
    acc_apgd = adversarial_accuracy(model, (X, y), apgd, progress=False)
    acc_full = adversarial_accuracy(model, (X, y), full, progress=False)
    assert acc_full <= acc_apgd <= clean_accuracy(model, (X, y), progress=False)


@pytest.mark.slow
def test_data_forms_agree(model):
    dataset = load_dataset("digits", "test", subset=100)
    X, y = dataset_tensors(dataset)
    by_tuple = clean_accuracy(model, (X, y), batch_size=33, progress=False)
    assert clean_accuracy(model, dataset, progress=False) == by_tuple
    assert clean_accuracy(model, make_loader(dataset, 17), progress=False) == by_tuple


@pytest.mark.slow
def test_mode_and_requires_grad_are_restored(model, test_data):
    X, y = test_data
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    try:
        make_attack("pgd", model, EPS, steps=2)(X[:8], y[:8])
        assert model.training
        assert [p.requires_grad for p in model.parameters()] == flags
        assert all(p.grad is None for p in model.parameters())
    finally:
        model.eval()


def test_frozen_restores_each_parameters_own_flag(tiny_convnet):
    model = tiny_convnet()
    first = next(model.parameters())
    first.requires_grad_(False)  # e.g. a frozen f_a
    flags = [p.requires_grad for p in model.parameters()]
    with pytest.raises(RuntimeError, match="inside"):
        with frozen(model) as same:
            assert same is model and not any(p.requires_grad for p in model.parameters())
            raise RuntimeError("inside the block")
    assert [p.requires_grad for p in model.parameters()] == flags and not first.requires_grad


def test_attack_on_an_untrained_net_restores_modes_and_flags(tiny_convnet):
    """The restore rules without a trained network: per-module modes (a frozen part stays in eval mode), each
    parameter's requires_grad, and no weight gradient left behind."""
    model = tiny_convnet().train()
    model.net[3].eval()  # a BatchNorm kept in eval mode, as split_fa_fb keeps f_a's
    model.net[0].weight.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    x, y = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(6) % 3
    x_adv = make_attack("pgd", model, EPS, steps=2)(x, y)
    assert (x_adv - x).abs().max() <= EPS + 1e-6 and not torch.equal(x_adv, x)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow
def test_attack_tensors_keeps_order_and_device(model, test_data):
    X, y = test_data
    X_adv = attack_tensors(model, X, y, "fgsm", eps=EPS, batch_size=50, progress=False)
    assert X_adv.device.type == "cpu" and X_adv.shape == X.shape
    assert torch.equal(X_adv[60:70], make_attack("fgsm", model, EPS)(X[60:70], y[60:70]))


@pytest.mark.parametrize("call, message", [
    (lambda m: make_attack("deepfool", m, EPS), "Unknown attack"),
    (lambda m: make_attack("pgd", m, -1 / 255), ">= 0"),
    (lambda m: make_attack("pgd", m, 8), "did you mean"),
    (lambda m: make_attack("pgd", m, EPS, step=3), "Unknown parameter"),
    (lambda m: make_attack("fgsm", m, EPS, steps=3), "Unknown parameter"),
    (lambda m: make_attack("pgd", m, EPS, steps=0), "steps"),
    (lambda m: make_attack("autoattack", m, EPS, backend="foolbox"), "backend"),
    (lambda m: make_attack("autoattack", m, EPS, attacks=["apgd-ce", "deepfool"]), "AutoAttack attack"),
    (lambda m: make_attack("autoattack", m, EPS, attacks=[]), "runs nothing"),
    (lambda m: make_attack("autoattack", m, EPS, attacks=["apgd-ce"], backend="torchattacks"), "pyautoattack"),
    (lambda m: adversarial_accuracy(m, (torch.zeros(2, 3, 32, 32), torch.zeros(2).long()), "pgd"), "eps is required"),
    (lambda m: clean_accuracy(m, [1, 2, 3]), "data must be"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.nn.Linear(1, 1))
