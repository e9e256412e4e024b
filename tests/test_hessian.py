"""Hessian-vector products and lambda_max (semirobust.hessian) against exact Hessians of tiny models."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from semirobust.hessian import HessianOperator, flatten, top_eigenvalue, unflatten


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def _data(n=40, d=3, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


def _exact_hessian(model, params, X, y, loss=None):
    """Dense Hessian of the mean loss w.r.t. ``params`` (torch.autograd.functional.hessian)."""
    names = [n for n, p in model.named_parameters() if any(p is q for q in params)]
    loss = loss or (lambda out, t: F.cross_entropy(out, t))

    def f(flat):
        tensors = dict(zip(names, unflatten(flat, params)))
        return loss(functional_call(model, tensors, (X,)), y)

    return torch.autograd.functional.hessian(f, flatten([p.detach() for p in params]))


def test_hvp_matches_exact_hessian_and_is_batching_invariant():
    model = _tiny_net()
    X, y = _data()
    params = list(model.parameters())
    H = _exact_hessian(model, params, X, y)
    v = torch.randn(H.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    one = HessianOperator(model, params, [(X, y)])
    split = HessianOperator(model, params, [(X[:15], y[:15]), (X[15:], y[15:])])
    torch.testing.assert_close(one.hvp(v), H @ v, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(split.hvp(v), H @ v, rtol=1e-9, atol=1e-12)
    assert split.loss() == pytest.approx(F.cross_entropy(model(X), y).item(), rel=1e-12)
    assert split.quadratic_form(v) == pytest.approx(float(v @ H @ v), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_lanczos_lambda_max_matches_exact_top_eigenvalue(seed):
    model = _tiny_net(seed)
    X, y = _data(seed=seed + 5)
    params = list(model.parameters())
    exact = torch.linalg.eigvalsh(_exact_hessian(model, params, X, y))
    result = top_eigenvalue(HessianOperator(model, params, [(X, y)]), method="lanczos", tol=1e-8)
    assert result.value == pytest.approx(exact.max().item(), rel=1e-6)
    assert result.residual < 1e-4
    assert result.n_hvp > 1


def test_power_iteration_matches_on_a_convex_loss():
    # Softmax regression: the Hessian is positive semi-definite, so the largest-magnitude
    # eigenvalue that power iteration finds is lambda_max.
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    X, y = _data(n=60, d=4)
    params = list(model.parameters())
    exact = torch.linalg.eigvalsh(_exact_hessian(model, params, X, y)).max().item()
    result = top_eigenvalue(HessianOperator(model, params, [(X, y)]), method="power", tol=1e-10, maxiter=5000)
    assert result.value == pytest.approx(exact, rel=1e-4)


def test_subset_of_parameters_gives_the_principal_submatrix():
    # Section 2.2 restricts H to the f_b weights: the block of the full Hessian, not another matrix.
    model = _tiny_net(2)
    X, y = _data(seed=2)
    all_params = list(model.parameters())
    H = _exact_hessian(model, all_params, X, y)
    last = list(model[2].parameters())
    start = sum(p.numel() for p in model[0].parameters())
    block = H[start:, start:]
    result = top_eigenvalue(HessianOperator(model, last, [(X, y)]), tol=1e-8)
    assert result.value == pytest.approx(torch.linalg.eigvalsh(block).max().item(), rel=1e-6)
    assert result.value <= torch.linalg.eigvalsh(H).max().item() + 1e-9  # Cauchy interlacing


def test_second_order_term_is_exact_for_a_quadratic_loss():
    # Least squares is quadratic in the weights: l(w + d) - l(w) = g.d + 1/2 d^T H d exactly.
    torch.manual_seed(0)
    model = nn.Linear(4, 2).double()
    X = torch.randn(30, 4, dtype=torch.float64)
    Y = torch.randn(30, 2, dtype=torch.float64)
    mse = lambda out, t: ((out - t) ** 2).sum()  # noqa: E731 (summed; the operator takes the mean)
    op = HessianOperator(model, list(model.parameters()), [(X, Y)], loss_fn=mse)
    before, grad = op.loss(), op.gradient()
    delta = 0.3 * torch.randn(op.dim, dtype=torch.float64)
    second = 0.5 * op.quadratic_form(delta)
    with torch.no_grad():
        for p, d in zip(model.parameters(), unflatten(delta, list(model.parameters()))):
            p += d
    assert op.loss() - before == pytest.approx(float(grad @ delta) + second, rel=1e-10)


def test_eval_mode_is_used_and_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).double()
    model[1].running_mean.fill_(0.5)
    X, y = _data(n=20, classes=2)
    op = HessianOperator(model, list(model[3].parameters()), [(X[:7], y[:7]), (X[7:], y[7:])])
    model.train()
    loss = op.loss()
    op.hvp(torch.ones(op.dim, dtype=torch.float64))
    assert model.training and model[1].training
    model.eval()
    assert loss == pytest.approx(F.cross_entropy(model(X), y).item(), rel=1e-12)


def _frozen_operator(X, y):
    frozen = nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    return HessianOperator(frozen, [frozen.weight], [(X, y)])


#: (what is wrong, the call on (model, params, X, y, operator), the message it must name)
BAD_HESSIAN_CALLS = [
    ("no params", lambda m, p, X, y, op: HessianOperator(m, [], [(X, y)]), "params is empty"),
    ("no batches", lambda m, p, X, y, op: HessianOperator(m, p, []), "non-empty list"),
    ("targets", lambda m, p, X, y, op: HessianOperator(m, p, [(X, y[:3])]), "as many targets"),
    ("frozen", lambda m, p, X, y, op: _frozen_operator(X, y), "requires_grad"),
    ("vector size", lambda m, p, X, y, op: op.hvp(torch.ones(3)), "entries"),
    ("method", lambda m, p, X, y, op: top_eigenvalue(op, method="arnoldi"), "Unknown eigenvalue method"),
    ("tol", lambda m, p, X, y, op: top_eigenvalue(op, tol=0), "tol"),
    ("maxiter", lambda m, p, X, y, op: top_eigenvalue(op, maxiter=0), "maxiter"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in BAD_HESSIAN_CALLS], ids=[c[0] for c in BAD_HESSIAN_CALLS])
def test_bad_parameters_give_clear_errors(call, message):
    model = _tiny_net()
    X, y = _data()
    params = list(model.parameters())
    op = HessianOperator(model, params, [(X, y)])
    with pytest.raises(ValueError, match=message):
        call(model, params, X, y, op)
    assert op.n_hvp == 0  # nothing computed before the error
    assert np.isfinite(op.loss())
