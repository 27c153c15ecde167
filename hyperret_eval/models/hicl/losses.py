"""HiCL's training objective: global InfoNCE over sequence vectors plus alpha times a
local InfoNCE over segment vectors; two dropout-noised views of each text are positives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hyperret_eval.models.hicl.config import SAME_TEXT_SEGMENTS


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float, group: torch.Tensor | None = None,
             same_group: str = "negative") -> torch.Tensor:
    """InfoNCE of ``view1[i]`` against all of ``view2``, the positive being ``view2[i]``.

    ``group`` (optional, one id per row) marks rows that come from the same text. Other
    rows of the same group are treated per ``same_group``: ``negative`` (ordinary
    negatives), ``neither`` (left out of the denominator) or ``positive`` (extra
    positives: the loss is -log of the probability mass on all positives).
    """
    logits = F.normalize(view1, dim=-1) @ F.normalize(view2, dim=-1).T / temperature
    n = logits.shape[0]
    own = torch.eye(n, dtype=torch.bool, device=logits.device)
    if group is None or same_group == "negative":
        return F.cross_entropy(logits, torch.arange(n, device=logits.device))
    if same_group not in SAME_TEXT_SEGMENTS:
        raise ValueError(f"unknown same-text treatment {same_group!r}; expected one of {SAME_TEXT_SEGMENTS}")
    siblings = (group.unsqueeze(0) == group.unsqueeze(1)) & ~own
    if same_group == "neither":
        logits = logits.masked_fill(siblings, float("-inf"))
        return F.cross_entropy(logits, torch.arange(n, device=logits.device))
    log_prob = logits.log_softmax(dim=-1)
    positives = own | siblings
    return -(log_prob.masked_fill(~positives, float("-inf")).logsumexp(dim=-1)).mean()


def hicl_loss(
    sequences1: torch.Tensor,
    sequences2: torch.Tensor,
    segments1: torch.Tensor,
    segments2: torch.Tensor,
    segment_text: torch.Tensor,
    alpha: float,
    temperature: float = 0.05,
    same_text_segments: str = "neither",
) -> dict[str, torch.Tensor]:
    """``{"loss", "global", "local"}``; with ``alpha == 0`` this is unsupervised SimCSE."""
    global_loss = info_nce(sequences1, sequences2, temperature)
    if alpha == 0:
        local_loss = global_loss.new_zeros(())
    else:
        local_loss = info_nce(segments1, segments2, temperature, group=segment_text, same_group=same_text_segments)
    return {"loss": global_loss + alpha * local_loss, "global": global_loss, "local": local_loss}
