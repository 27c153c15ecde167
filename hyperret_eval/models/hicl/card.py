"""The model card (``README.md``) of a HiCL or SimCSE checkpoint: what the model is, how it
was trained (from the checkpoint's training state), where its scores are, and how to load
it with and without hyperret-eval. sentence-transformers keeps a loaded model's card when
it saves the model again, so a copy saved with ``save_pretrained`` keeps it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperret_eval.models.backbones import backbone_hub_id
from hyperret_eval.models.hicl.config import HICL_PAPER, SIMCSE_PAPER, is_simcse


def _front_matter(base_model: str | None) -> str:
    lines = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
             "tags:", "- sentence-transformers", "- sentence-similarity", "- hicl", "- hyperret-eval",
             "license: apache-2.0", "language:", "- en"]
    if base_model:
        lines.append(f"base_model: {base_model}")
    return "\n".join([*lines, "---", ""])


def model_card(state: dict[str, Any]) -> str:
    """The card of a checkpoint whose training state (``training/state.json``) is ``state``."""
    config = state["config"]
    simcse = is_simcse(config["alpha"], config["segment_length"], config["max_tokens"])
    kind = "unsupervised SimCSE (HiCL's loop with one segment per text and no segment loss)" if simcse else "HiCL"
    paper = (f"[Gao et al., EMNLP 2021]({SIMCSE_PAPER})" if simcse
             else f"[Wu et al., Findings of EMNLP 2023]({HICL_PAPER})")
    base_model = backbone_hub_id(config["backbone"])
    data = state.get("data", {})
    texts = f"{data['texts']:,} texts" if "texts" in data else "its training text"
    source = (f"the file {config['text_file']}" if config.get("text_file")
              else f"the text sources {', '.join(config['text_sources'])} of the data root")
    last = state["history"][-1] if state.get("history") else {}
    loss = f", last loss {last['loss']:.4f}" if "loss" in last else ""
    return _front_matter(base_model) + f"""
# {config['name']} ({'SimCSE' if simcse else 'HiCL'})

A sentence encoder trained as {kind} ({paper}) by
hyperret-eval, starting from {base_model or config['backbone']}. Each text is cut into segments of {config['segment_length']} tokens
(at most {config['max_tokens']} tokens a text), each segment encoded by the backbone and
{config['pooling']}-pooled, and the text's vector is the {config['aggregation']} average of its segments' vectors.

## Training

- Recipe `{config['name']}`: {state['step']} of {config['max_steps']} optimizer steps{loss}
- Batch size {config['batch_size']}, learning rate {config['learning_rate']}, temperature {config['temperature']},
  segment-loss weight (alpha) {config['alpha']}, seed {config['seed']}
- Data: {texts} from {source} (revision `{data.get('revision', 'unknown')}`)
- The full settings, the data's file hashes and every step's loss are in `training/state.json`.
- Results name it `hyperret/{config['name']}`, followed by the settings in which it differs
  from the named recipe of that name, if any (`hyperret/{config['name']} (max_steps=5)`).

## Scores

This card is written when the checkpoint is; the scores are not measured yet. Evaluate it on
the STS tasks (MTEB's protocol, and the papers' SentEval protocol) with

    hyperret-eval run --tasks STS --models <this folder>

Published scores of the named recipe's checkpoints are on the project's leaderboard
(`leaderboard/README.md`).

## Loading

With hyperret-eval installed (the class comes from the package; this folder's code is never run):

    import hyperret_eval
    model = hyperret_eval.load_model("<this folder>")        # ready for mteb.evaluate

Without it, with sentence-transformers alone: the folder carries the module as
`modeling_hicl.py` (read it first: `trust_remote_code=True` runs it):

    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer("<this folder>", trust_remote_code=True)
    embeddings = model.encode(["A sentence.", "Another one."])
"""


def write_model_card(folder: Path, state: dict[str, Any]) -> None:
    """Write ``README.md`` into a checkpoint folder being filled (``folder`` is staging)."""
    (Path(folder) / "README.md").write_text(model_card(state), encoding="utf-8")
