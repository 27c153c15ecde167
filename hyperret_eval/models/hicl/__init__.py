"""HiCL: hierarchical contrastive learning of sentence embeddings (Wu, Xiao, Vydiswaran,
Findings of EMNLP 2023, arXiv 2310.09720)."""

from hyperret_eval.models.hicl.module import HiCLEncoder

__all__ = ["HiCLEncoder"]
