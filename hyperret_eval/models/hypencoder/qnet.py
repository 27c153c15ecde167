"""The q-net: the small MLP a Hypencoder query becomes, applied to passage vectors."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu, "tanh": torch.tanh}


@dataclass(frozen=True)
class QNetShape:
    """Structure shared by every q-net of a model (the converter settings)."""

    vector_dimensions: tuple[int, ...]  # [d, h1, ..., hk, 1]
    activation: str = "relu"
    do_layer_norm: bool = True
    do_residual: bool = True
    layer_norm_before_residual: bool = True
    do_residual_on_last: bool = False

    def __post_init__(self) -> None:
        if len(self.vector_dimensions) < 2 or self.vector_dimensions[-1] != 1:
            raise ValueError(f"vector_dimensions must run from the input size to 1, got {self.vector_dimensions}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; expected one of {', '.join(ACTIVATIONS)}")

    @property
    def num_hidden(self) -> int:
        return len(self.vector_dimensions) - 2


@dataclass
class QNets:
    """One q-net per query: ``weights[i]`` is [Q, in_i, out_i], ``biases[j]`` is [Q, h_j]."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    shape: QNetShape

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype) -> QNets:
        return QNets([w.to(device, dtype) for w in self.weights], [b.to(device, dtype) for b in self.biases], self.shape)

    def select(self, index: torch.Tensor | slice) -> QNets:
        return QNets([w[index] for w in self.weights], [b[index] for b in self.biases], self.shape)

    def _finish_hidden(self, layer: int, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Activation, layer norm and residual of hidden layer ``layer`` on its affine
        output ``y``, given the layer input ``x``."""
        y = ACTIVATIONS[self.shape.activation](y)
        last_hidden = self.shape.num_hidden - 1
        residual = self.shape.do_residual and (layer != last_hidden or self.shape.do_residual_on_last)
        if self.shape.do_layer_norm and self.shape.layer_norm_before_residual:
            y = F.layer_norm(y, y.shape[-1:])
        if residual:
            y = y + x
        if self.shape.do_layer_norm and not self.shape.layer_norm_before_residual:
            y = F.layer_norm(y, y.shape[-1:])
        return y

    def _output(self, x: torch.Tensor) -> torch.Tensor:
        return torch.bmm(x, self.weights[-1]).squeeze(-1)

    def apply(self, items: torch.Tensor) -> torch.Tensor:
        """Scores [Q, N] of each query's q-net on its own items ``items`` [Q, N, d]."""
        x = items
        for layer, (weight, bias) in enumerate(zip(self.weights[:-1], self.biases)):
            x = self._finish_hidden(layer, torch.baddbmm(bias.unsqueeze(1), x, weight), x)
        return self._output(x)

    @functools.cached_property
    def _stacked_first_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every query's first-layer weights side by side, [d, Q * h1], and biases [Q * h1]."""
        weight = self.weights[0]
        return weight.permute(1, 0, 2).reshape(weight.shape[1], -1), self.biases[0].reshape(-1)

    def apply_shared(self, passages: torch.Tensor) -> torch.Tensor:
        """Scores [Q, N] of every query's q-net on the same passages [N, d].

        All queries see the same input at the first layer, so that layer is one
        [N, d] x [d, Q * h1] matrix product instead of Q small ones (the largest single
        saving over scoring one query at a time); later layers are batched per query.
        """
        weight, bias = self._stacked_first_layer
        first = torch.addmm(bias, passages, weight).view(passages.shape[0], len(self), -1).transpose(0, 1)
        x = self._finish_hidden(0, first, passages.unsqueeze(0))
        for layer, (weight, bias) in enumerate(zip(self.weights[1:-1], self.biases[1:]), start=1):
            x = self._finish_hidden(layer, torch.baddbmm(bias.unsqueeze(1), x, weight), x)
        return self._output(x)

    def score(self, passages: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
        """Every query against every passage: [Q, N] for ``passages`` [N, d].

        Passages are taken ``chunk_size`` at a time, so memory holds Q x chunk x hidden.
        The arithmetic runs in the q-nets' own dtype, never in autocast's: training under
        bfloat16 autocast keeps the q-net in float32 (see ``Hypencoder.query_qnets``).
        """
        passages = passages.to(self.weights[0].dtype)
        with torch.autocast(device_type=passages.device.type, enabled=False):
            return torch.cat([self.apply_shared(passages[start : start + chunk_size])
                              for start in range(0, passages.shape[0], chunk_size)], dim=1)
