"""The query side of Hypencoder: a backbone whose token states are turned, by attention
of learned queries, into the weights and biases of one q-net per query."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hyperret_eval.models.hypencoder.qnet import QNets, QNetShape


class QNetHypernetwork(nn.Module):
    """Maps token states H [B, T, d] and mask M [B, T] to :class:`QNets`.

    Parameter names and shapes follow the released checkpoints (see
    ../shared/fixtures/README.md): for weight matrix i of shape (in_i, out_i), learned
    queries ``weight_query_embeddings[i]`` (1, out_i, in_i) attend over key/value
    projections of H; the result, through ReLU, a parameter-free layer norm and
    ``weight_hyper_projection[i]``, is added to ``hyper_base_matrices[i]``. Biases the same
    way with one learned query each. Attention is scaled by 1/sqrt(out_i), the output
    size, as the reference implementation does.
    """

    def __init__(self, hidden_size: int, shape: QNetShape) -> None:
        super().__init__()
        self.shape = shape
        dims = shape.vector_dimensions
        matrices = list(zip(dims[:-1], dims[1:]))  # (in_i, out_i)
        hidden = list(dims[1:-1])  # h_j
        self.hyper_base_matrices = nn.ParameterList(nn.Parameter(torch.zeros(1, o, i)) for i, o in matrices)
        self.weight_query_embeddings = nn.ParameterList(nn.Parameter(torch.zeros(1, o, i)) for i, o in matrices)
        self.weight_hyper_projection = nn.ModuleList(nn.Linear(i, i) for i, _ in matrices)
        self.hyper_base_vectors = nn.ParameterList(nn.Parameter(torch.zeros(1, h)) for h in hidden)
        self.bias_query_embeddings = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, h)) for h in hidden)
        self.bias_hyper_projection = nn.ModuleList(nn.Linear(h, h) for h in hidden)
        projected = [i for i, _ in matrices] + hidden
        self.key_projections = nn.ModuleList(nn.Linear(hidden_size, size) for size in projected)
        self.value_projections = nn.ModuleList(nn.Linear(hidden_size, size) for size in projected)

    @torch.no_grad()
    def reset_parameters_as_reference(self, seed: int = 1, reference_dim: int = 768) -> None:
        """Initialise as the paper's code does (its constants included: it scales by a
        hidden size of 768 whatever the backbone): base matrices N(0, 2/768), learned
        queries N(0, 10^2), weight projections N(0, (1/768^2)^2) with zero bias, base
        vectors zero, zero biases on the weight matrices' key and value projections."""
        torch.manual_seed(seed)
        for module in [*self.weight_hyper_projection, *self.bias_hyper_projection,
                       *self.key_projections, *self.value_projections]:
            module.reset_parameters()
        for i in range(len(self.hyper_base_matrices)):
            nn.init.normal_(self.hyper_base_matrices[i], std=(2 / reference_dim) ** 0.5)
            nn.init.normal_(self.weight_query_embeddings[i], mean=0.0, std=10.0)
            nn.init.normal_(self.weight_hyper_projection[i].weight, std=1 / reference_dim**2)
            nn.init.zeros_(self.weight_hyper_projection[i].bias)
            nn.init.zeros_(self.key_projections[i].bias)
            nn.init.zeros_(self.value_projections[i].bias)
        for j in range(len(self.hyper_base_vectors)):
            nn.init.zeros_(self.hyper_base_vectors[j])
            nn.init.normal_(self.bias_query_embeddings[j], mean=0.0, std=10.0)

    @torch.no_grad()
    def reset_parameters_warm_start(self, seed: int = 1, offset: float = 10.0, scale: float = 20.0,
                                    reference_dim: int = 768) -> None:
        """Initialise so that every query's q-net scores a passage vector p by
        ``scale * cos(q - mean(q), p - mean(p))``, q being the masked mean of the query's
        token states and the means taken over dimensions: on a backbone trained for
        retrieval, the Hypencoder then starts where the bi-encoder is instead of at chance.

        Starting from the reference initialisation (so every weight that is not set here
        keeps a trainable, query-dependent path):

        - hidden weight matrices: base = identity, weight projection ~ N(0, (1/768^2)^2),
          so W(q) = I up to that small generated part;
        - hidden biases: base = ``offset`` in every entry, small projection likewise. With
          input x, relu(x + offset) = x + offset while x > -offset, and the layer norm
          removes the offset and standardises; the residual adds x back, so every hidden
          layer's output is an increasing affine map of p and the last one (no residual)
          is p standardised, z(p);
        - the output matrix (d x 1): zero learned queries make its attention the masked
          mean over tokens; the value projection is the identity plus ``offset``, so the
          ReLU and layer norm give z(q); the weight projection (scale/d)·I turns that into
          the output weights, and the score is z(q)·z(p)·scale/d, the scaled cosine above.

        ``offset`` must exceed the most negative entry the hidden layers see, which grows
        with depth (layer i sees about p + (i - 1)·z(p)): see :func:`warm_start_offset`.
        The checkpoint format is unchanged: this only chooses initial values.
        """
        self.reset_parameters_as_reference(seed=seed, reference_dim=reference_dim)
        *hidden_matrices, last = range(len(self.hyper_base_matrices))
        for i in hidden_matrices:
            base = self.hyper_base_matrices[i]
            if base.shape[1] != base.shape[2]:
                raise ValueError(f"warm start needs square hidden layers; layer {i} maps {base.shape[2]} -> {base.shape[1]}")
            base.copy_(torch.eye(base.shape[1]).unsqueeze(0))
        for j in range(len(self.hyper_base_vectors)):
            self.hyper_base_vectors[j].fill_(offset)
            nn.init.normal_(self.bias_hyper_projection[j].weight, std=1 / reference_dim**2)
            nn.init.zeros_(self.bias_hyper_projection[j].bias)
        width = self.hyper_base_matrices[last].shape[2]
        if self.value_projections[last].weight.shape != (width, width):
            raise ValueError(f"warm start needs the q-net input size ({width}) to equal the backbone's hidden size "
                             f"({self.value_projections[last].weight.shape[1]})")
        self.weight_query_embeddings[last].zero_()
        self.value_projections[last].weight.copy_(torch.eye(width))
        self.value_projections[last].bias.fill_(offset)
        self.weight_hyper_projection[last].weight.copy_(torch.eye(width) * (scale / width))
        self.weight_hyper_projection[last].bias.zero_()
        self.hyper_base_matrices[last].zero_()

    @staticmethod
    def _attend(queries, keys, values, mask, scale: float) -> torch.Tensor:
        logits = torch.matmul(queries, keys.transpose(1, 2)) * scale  # [B, n_queries, T]
        logits = logits.masked_fill(~mask.bool().unsqueeze(1), torch.finfo(logits.dtype).min)
        return torch.matmul(logits.softmax(dim=-1), values)

    def _generate(self, index: int, learned, projection, base, hidden, mask, scale: float) -> torch.Tensor:
        keys = self.key_projections[index](hidden)
        values = self.value_projections[index](hidden)
        context = self._attend(learned.expand(hidden.shape[0], -1, -1), keys, values, mask, scale)
        context = F.layer_norm(F.relu(context), context.shape[-1:])
        return projection(context) + base

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> QNets:
        """The q-nets, computed in float32 whatever autocast says (the backbone may run in
        bfloat16): the warm start adds offsets of 10 or more to entries around 0.05, and
        bfloat16's step at 10 is 0.0625."""
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            return self._generate_qnets(hidden.float(), mask)

    def _generate_qnets(self, hidden: torch.Tensor, mask: torch.Tensor) -> QNets:
        weights = []
        for i, learned in enumerate(self.weight_query_embeddings):
            out_size = learned.shape[1]
            matrix = self._generate(i, learned, self.weight_hyper_projection[i], self.hyper_base_matrices[i],
                                    hidden, mask, 1.0 / math.sqrt(out_size))
            weights.append(matrix.transpose(1, 2))  # [B, in_i, out_i]
        offset = len(weights)
        biases = []
        for j, learned in enumerate(self.bias_query_embeddings):
            vector = self._generate(offset + j, learned, self.bias_hyper_projection[j], self.hyper_base_vectors[j],
                                    hidden, mask, 1.0)
            biases.append(vector.squeeze(1))  # [B, h_j]
        return QNets(weights, biases, self.shape)
