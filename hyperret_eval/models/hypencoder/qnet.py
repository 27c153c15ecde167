"""The q-net: the small MLP a Hypencoder query becomes, applied to passage vectors."""

from __future__ import annotations

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

    def select(self, index: torch.Tensor | slice) -> QNets:
        return QNets([w[index] for w in self.weights], [b[index] for b in self.biases], self.shape)

    def apply(self, items: torch.Tensor) -> torch.Tensor:
        """Scores [Q, N] of each query's q-net on its own items ``items`` [Q, N, d]."""
        act = ACTIVATIONS[self.shape.activation]
        x = items
        last_hidden = self.shape.num_hidden - 1
        for layer, (weight, bias) in enumerate(zip(self.weights[:-1], self.biases)):
            y = act(torch.baddbmm(bias.unsqueeze(1), x, weight))
            residual = self.shape.do_residual and (layer != last_hidden or self.shape.do_residual_on_last)
            if self.shape.do_layer_norm and self.shape.layer_norm_before_residual:
                y = F.layer_norm(y, y.shape[-1:])
            if residual:
                y = y + x
            if self.shape.do_layer_norm and not self.shape.layer_norm_before_residual:
                y = F.layer_norm(y, y.shape[-1:])
            x = y
        return torch.bmm(x, self.weights[-1]).squeeze(-1)

    def score(self, passages: torch.Tensor, chunk_size: int = 4096) -> torch.Tensor:
        """Every query against every passage: [Q, N] for ``passages`` [N, d].

        Passages are taken ``chunk_size`` at a time, so memory holds Q x chunk x hidden.
        """
        passages = passages.to(self.weights[0].dtype)
        out = []
        for start in range(0, passages.shape[0], chunk_size):
            chunk = passages[start : start + chunk_size]
            out.append(self.apply(chunk.unsqueeze(0).expand(len(self), -1, -1)))
        return torch.cat(out, dim=1)
