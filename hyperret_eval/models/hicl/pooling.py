"""Segment pooling and the segment-to-sequence aggregator."""

from __future__ import annotations

import torch

from hyperret_eval.models.hicl.config import AGGREGATIONS, POOLINGS


def pool_segments(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per segment: the mean over its tokens (special tokens included, as
    sentence-transformers' mean pooling does) or its first ([CLS]) token."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling != "mean":
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def aggregate_segments(
    segments: torch.Tensor,
    segment_text: torch.Tensor,
    segment_tokens: torch.Tensor,
    num_texts: int,
    aggregation: str = "weighted",
) -> torch.Tensor:
    """Sequence vectors [num_texts, d] as the average of each text's segment vectors.

    ``weighted``: weights proportional to each segment's number of content tokens (an empty
    segment, which only an empty text has, counts as one token). ``mean``: equal weights.
    """
    if aggregation == "weighted":
        weights = segment_tokens.clamp(min=1).to(segments.dtype)
    elif aggregation == "mean":
        weights = torch.ones_like(segment_tokens, dtype=segments.dtype)
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    dim = segments.shape[-1]
    sums = segments.new_zeros((num_texts, dim)).index_add(0, segment_text, segments * weights.unsqueeze(-1))
    totals = segments.new_zeros(num_texts).index_add(0, segment_text, weights)
    return sums / totals.unsqueeze(-1)
