"""Eval-mode networks with each BatchNorm folded into the convolution before it: the attacks' view of a network.

An attack runs the network in eval mode, where a BatchNorm after a convolution is a fixed per-channel affine map:
``bn(conv(x)) = conv'(x)`` with weight ``w * s`` and bias ``(b - mean) * s + beta``, ``s = gamma / sqrt(var +
eps)``. On this project's small CPU networks the BatchNorm's forward and backward were about a fifth of an attack
iteration (``torch.profiler``, VGG16 at width 0.125); folding removes them (:func:`folded_view`, measured in
``benchmarks/bench_offline_units.py``). The folded weights are computed from the live modules on every call, so the
view follows a network that is being trained (the training attack of adversarial training) without a refresh.

The numbers change only by floating-point rounding (logits within about 1e-6 relative; an attack's sign steps can
flip on a pixel whose gradient is that small, so an attacked accuracy may move by an image now and then; the
tests bound both). A network without a convolution-BatchNorm pair, one fx cannot trace, or one in train mode is
run as it is.
"""
from __future__ import annotations

import contextlib
import weakref

import torch
import torch.nn.functional as F
from torch import fx, nn


class FoldedConvBN(nn.Module):
    """``bn(conv(x))`` in eval mode as one convolution whose weights are folded from the live modules."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d):
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn = self.conv, self.bn
        if bn.training:  # folding is an eval-mode identity only
            return bn(conv(x))
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps) if bn.affine else torch.rsqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        shift = (bias - bn.running_mean) * scale + (bn.bias if bn.affine else 0.0)
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        return F.conv2d(x, weight, shift, conv.stride, conv.padding, conv.dilation, conv.groups)


class FoldedView(nn.Module):
    """The folded graph of ``source`` sharing its modules; ``source``'s forward hooks see each pass as its own
    (``semirobust.attacks.GradEvalCounter`` keeps counting)."""

    def __init__(self, source: nn.Module, graph_module: fx.GraphModule):
        super().__init__()
        self.graph_module = graph_module
        self._source = weakref.ref(source)  # not a submodule: the view must not own or re-register the network

    @property
    def training(self) -> bool:  # the network's mode: an attack library that reads or restores it acts on the network
        source = self.__dict__.get("_source")
        return bool(source is not None and source() is not None and source().training)

    @training.setter
    def training(self, mode: bool) -> None:
        pass  # set through train() below

    def train(self, mode: bool = True) -> FoldedView:
        self._source().train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        source = self._source()
        if source is None or source.training or any(m.training for m in source.modules()):
            return source(x)
        out = self.graph_module(x)
        for hook in list(source._forward_hooks.values()):
            result = hook(source, (x,), out)
            out = out if result is None else result
        return out


def _fold_graph(model: nn.Module) -> fx.GraphModule | None:
    """``model`` traced by fx with every convolution whose only user is a BatchNorm2d fused with it; None when
    there is no such pair or the model cannot be traced."""
    try:
        traced = fx.symbolic_trace(model)
    except Exception:  # a network fx cannot trace is attacked as it is
        return None
    modules = dict(traced.named_modules())
    pairs = 0
    for node in list(traced.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        producer = node.args[0]
        if not (isinstance(producer, fx.Node) and producer.op == "call_module"
                and isinstance(modules.get(producer.target), nn.Conv2d) and len(producer.users) == 1):
            continue
        name = f"folded_{pairs}"
        traced.add_submodule(name, FoldedConvBN(modules[producer.target], modules[node.target]))
        with traced.graph.inserting_before(node):
            fused = traced.graph.call_module(name, args=producer.args)
        node.replace_all_uses_with(fused)
        traced.graph.erase_node(node)
        traced.graph.erase_node(producer)
        pairs += 1
    if pairs == 0:
        return None
    traced.graph.lint()
    traced.recompile()
    return traced


#: each network's folded view (False: nothing to fold), for as long as the network lives
_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: whether attacks run on the folded view (the benchmark's old-against-new switch: :func:`unfolded`)
_ENABLED = [True]


@contextlib.contextmanager
def unfolded():
    """Within this block attacks built anew run on the network itself (the eager baseline of the benchmark)."""
    _ENABLED.append(False)
    try:
        yield
    finally:
        _ENABLED.pop()


def folded_view(model: nn.Module) -> nn.Module:
    """The attacks' view of ``model``: its convolution-BatchNorm pairs folded (eval mode), sharing its parameters;
    ``model`` itself when there is nothing to fold (or inside :func:`unfolded`). Built once per network and kept
    beside it."""
    if not _ENABLED[-1]:
        return model
    view = _VIEWS.get(model)
    if view is None:
        graph_module = _fold_graph(model)
        view = FoldedView(model, graph_module) if graph_module is not None else False
        _VIEWS[model] = view  # kept beside the network, not on it: its state_dict, copies and pickles are unchanged
    return view if view is not False else model


__all__ = ["FoldedConvBN", "FoldedView", "folded_view", "unfolded"]
