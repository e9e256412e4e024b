"""The loss Hessian of a model with respect to chosen parameters, without ever forming it.

Section 2.2 bounds the second-order term ``1/2 dw^T H dw`` by ``1/2 lambda_max ||dw||^2``. For a
network ``H`` has (number of parameters)^2 entries, so everything here works with Hessian-vector
products (HVPs) from double back-propagation (``torch.autograd.grad`` with ``create_graph=True``):

* :class:`HessianOperator` -- the loss (mean cross-entropy by default) over a fixed list of
  evaluation batches, its gradient, HVPs and quadratic forms, with the model in eval mode
  (BatchNorm with running statistics, Dropout off), so the loss is a deterministic function of the
  chosen parameters and does not depend on how the data are batched;
* :func:`top_eigenvalue` -- the largest (algebraic) eigenvalue of ``H`` by ARPACK's implicitly
  restarted Lanczos method (``scipy.sparse.linalg.eigsh(..., k=1, which="LA")`` on a
  ``LinearOperator`` of HVPs) or by plain power iteration.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from semirobust.config import check_choice, check_int
from semirobust.utils import eval_mode

METHODS = ("lanczos", "power")


def _check_batches(batches) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not isinstance(batches, (list, tuple)) or not batches:
        raise ValueError("batches must be a non-empty list of (inputs, targets) tensor pairs.")
    for item in batches:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(t, torch.Tensor) for t in item)):
            raise ValueError("every batch must be an (inputs, targets) pair of tensors.")
        if item[0].shape[0] != item[1].shape[0] or item[0].shape[0] == 0:
            raise ValueError("every batch needs as many targets as inputs, and at least one sample.")
    return list(batches)


class HessianOperator:
    """Loss, gradient and Hessian-vector products of ``model`` w.r.t. ``params`` on fixed ``batches``.

    The loss is the sample mean of ``loss_fn(model(x), y)`` (``loss_fn`` returns the *sum* over a
    batch; default summed cross-entropy) over all batches; each HVP back-propagates batch by batch
    and adds up, so memory is that of one batch. Vectors are flat float tensors ordered like
    ``params`` (see :func:`flatten`). The model is put in eval mode for every call and its mode is
    restored after.
    """

    def __init__(self, model: nn.Module, params: Sequence[torch.Tensor], batches,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.params = list(params)
        if not self.params:
            raise ValueError("params is empty: choose the parameters the Hessian is taken with respect to.")
        if any(not p.requires_grad for p in self.params):
            raise ValueError("every parameter of the Hessian must have requires_grad=True.")
        self.model = model
        self.batches = _check_batches(batches)
        self.loss_fn = loss_fn or (lambda out, y: F.cross_entropy(out, y, reduction="sum"))
        self.n_samples = sum(int(x.shape[0]) for x, _ in self.batches)
        self.dim = sum(p.numel() for p in self.params)
        self.device = self.params[0].device
        self.dtype = self.params[0].dtype
        self.n_hvp = 0

    def _batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.model(x.to(self.device))
        return self.loss_fn(out, y.to(self.device)) / self.n_samples

    def loss(self) -> float:
        """The mean loss over all batches."""
        with eval_mode(self.model), torch.no_grad():
            return float(sum(self._batch_loss(x, y).item() for x, y in self.batches))

    def gradient(self) -> torch.Tensor:
        """Flat gradient of the mean loss w.r.t. ``params``."""
        total = torch.zeros(self.dim, device=self.device, dtype=self.dtype)
        with eval_mode(self.model):
            for x, y in self.batches:
                grads = torch.autograd.grad(self._batch_loss(x, y), self.params, allow_unused=True)
                total += flatten(_fill_none(grads, self.params))
        return total

    def hvp(self, vector: torch.Tensor) -> torch.Tensor:
        """``H @ vector`` by double back-propagation, accumulated over the batches."""
        vector = torch.as_tensor(vector, device=self.device, dtype=self.dtype).reshape(-1)
        if vector.numel() != self.dim:
            raise ValueError(f"vector has {vector.numel()} entries, the parameters have {self.dim}.")
        pieces = unflatten(vector, self.params)
        total = torch.zeros(self.dim, device=self.device, dtype=self.dtype)
        with eval_mode(self.model):
            for x, y in self.batches:
                grads = torch.autograd.grad(self._batch_loss(x, y), self.params, create_graph=True, allow_unused=True)
                grads = _fill_none(grads, self.params)
                dot = sum((g * v).sum() for g, v in zip(grads, pieces) if g.requires_grad)
                if not isinstance(dot, torch.Tensor):  # the loss is linear in params: H = 0
                    continue
                second = torch.autograd.grad(dot, self.params, allow_unused=True)
                total += flatten(_fill_none(second, self.params)).detach()
        self.n_hvp += 1
        return total

    def quadratic_form(self, vector: torch.Tensor) -> float:
        """``vector^T H vector``."""
        vector = torch.as_tensor(vector, device=self.device, dtype=self.dtype).reshape(-1)
        return float(torch.dot(vector, self.hvp(vector)).item())

    def linear_operator(self):
        """A float64 ``scipy.sparse.linalg.LinearOperator`` whose matvec is an HVP."""
        def matvec(v):
            v = np.asarray(v, dtype=np.float64).reshape(-1)
            return self.hvp(torch.from_numpy(v)).double().cpu().numpy()

        return LinearOperator((self.dim, self.dim), matvec=matvec, dtype=np.float64)


def _fill_none(grads, params) -> list[torch.Tensor]:
    """Zeros where a parameter does not influence the loss (``allow_unused=True`` gives None)."""
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one flat vector (the order of ``params``)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector into tensors shaped like ``like``."""
    out, start = [], 0
    for t in like:
        out.append(vector[start:start + t.numel()].view_as(t))
        start += t.numel()
    return out


@dataclass
class EigenResult:
    """The top eigenvalue, its unit eigenvector, how it was found and how well it converged."""

    value: float
    vector: torch.Tensor
    method: str
    tol: float
    n_hvp: int
    residual: float  # ||H v - value v|| / |value| for the returned unit vector v

    def as_dict(self) -> dict:
        return {"lambda_max": self.value, "method": self.method, "tol": self.tol,
                "n_hvp": self.n_hvp, "relative_residual": self.residual}


def top_eigenvalue(operator: HessianOperator, method: str = "lanczos", tol: float = 1e-3,
                   maxiter: int | None = None, seed: int = 0) -> EigenResult:
    """Largest eigenvalue of the Hessian behind ``operator`` (``lambda_max`` of Section 2.2).

    ``method="lanczos"``: ``scipy.sparse.linalg.eigsh(k=1, which="LA", tol=tol)`` (ARPACK's
    implicitly restarted Lanczos; ``tol`` is ARPACK's relative accuracy of the Ritz value,
    ``maxiter`` its restarts, default ``10 * dim`` capped at 1000). ``method="power"``: power
    iteration until the Rayleigh quotient changes by less than ``tol`` relatively (default
    ``maxiter`` 500); it converges to the eigenvalue of largest *magnitude*, which is
    ``lambda_max`` unless the most negative eigenvalue is larger in size. A seeded random start
    makes both reproducible. The residual ``||H v - lambda v|| / |lambda|`` is measured with one
    extra HVP and returned, so the accuracy is checked, not assumed.
    """
    check_choice("eigenvalue method", method, METHODS)
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol={tol!r} must be a number in (0, 1).")
    check_int("maxiter", maxiter, allow_none=True)
    start_hvp = operator.n_hvp
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(operator.dim)
    if method == "lanczos":
        iters = maxiter if maxiter is not None else min(1000, 10 * operator.dim)
        if operator.dim == 1:
            value = operator.hvp(torch.ones(1)).item()
            vec = np.ones(1)
        else:
            vals, vecs = eigsh(operator.linear_operator(), k=1, which="LA", tol=tol, maxiter=iters, v0=v0)
            value, vec = float(vals[0]), vecs[:, 0]
    else:
        vec = v0 / np.linalg.norm(v0)
        value = 0.0
        for _ in range(maxiter if maxiter is not None else 500):
            hv = operator.hvp(torch.from_numpy(vec)).double().cpu().numpy()
            new_value = float(vec @ hv)
            norm = np.linalg.norm(hv)
            if norm == 0:
                value = 0.0
                break
            vec = hv / norm
            converged = abs(new_value - value) <= tol * abs(new_value)
            value = new_value
            if converged:
                break
    vector = torch.from_numpy(np.ascontiguousarray(vec / np.linalg.norm(vec)))
    hv = operator.hvp(vector).double().cpu()
    residual = float((hv - value * vector).norm() / max(abs(value), 1e-30))
    return EigenResult(value=value, vector=vector, method=method, tol=float(tol),
                       n_hvp=operator.n_hvp - start_hvp, residual=residual)


__all__ = ["METHODS", "HessianOperator", "flatten", "unflatten", "EigenResult", "top_eigenvalue"]
