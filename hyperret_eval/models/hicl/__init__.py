"""HiCL: hierarchical contrastive learning of sentence embeddings (Wu, Xiao, Vydiswaran,
Findings of EMNLP 2023, arXiv 2310.09720).

``HiCLEncoder`` is imported on first use, so that the settings (``config``) can be read
without loading torch and sentence-transformers."""

__all__ = ["HiCLEncoder"]


def __getattr__(name: str):
    if name == "HiCLEncoder":
        from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder

        return HiCLEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
