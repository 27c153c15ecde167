"""HiCL's sentence encoder as one sentence-transformers module, in a file of its own.

The file imports nothing but torch, transformers and sentence-transformers: a saved HiCL
checkpoint carries a copy of it (``modeling_hicl.py``, named in ``modules.json`` as
``modeling_hicl.HiCLEncoder``), so that ``SentenceTransformer(path, trust_remote_code=True)``
loads the checkpoint where hyperret-eval is not installed, as custom-code models on the
Hugging Face hub do. hyperret-eval itself never imports that copy:
:func:`hyperret_eval.models.sentence_model.load_sentence_transformer` hands this installed
class to sentence-transformers, with ``trust_remote_code`` off.

The encoder: a slicer cuts each text into fixed-length token segments, the backbone
encodes every segment, and an aggregator averages each text's segment vectors.

Slicing: a text is tokenized without special tokens and truncated to ``max_tokens``; its tokens
are cut into consecutive segments of ``segment_length`` tokens (the last may be shorter),
and every segment gets the backbone's special tokens (``[CLS] ... [SEP]`` for BERT-like
models). An empty or whitespace-only text becomes one segment holding only the special
tokens, exactly what the backbone would see for it. A text of at most ``segment_length``
tokens is therefore one segment, tokenized exactly as the backbone tokenizes it whole.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sentence_transformers.base.modules import InputModule
from transformers import AutoModel, AutoTokenizer

# The choices of hyperret_eval.models.hicl.config, and the bound of
# hyperret_eval.models.text_bound, repeated here (this file must run without the package;
# tests/test_hicl_portable.py checks they agree).
POOLINGS = ("mean", "cls")
AGGREGATIONS = ("weighted", "mean")
CHARS_PER_TOKEN = 100
CODE_FILE = "modeling_hicl.py"


def clip_text(text: str, max_tokens: int) -> str:
    """``text`` cut to the characters ``max_tokens`` tokens can cover, so that the
    tokenizer never works through an unbounded text."""
    return text[: max_tokens * CHARS_PER_TOKEN]


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


@dataclass
class SegmentBatch:
    """All segments of a batch of texts, padded to the longest segment."""

    input_ids: torch.Tensor  # [S, L] long
    attention_mask: torch.Tensor  # [S, L] long
    segment_text: torch.Tensor  # [S] long: index of the text each segment belongs to
    segment_tokens: torch.Tensor  # [S] long: content tokens in the segment (specials excluded)
    num_texts: int

    def as_features(self) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "segment_text": self.segment_text,
            "segment_tokens": self.segment_tokens,
            "num_texts": torch.tensor(self.num_texts),
        }


def special_framing(tokenizer) -> tuple[list[int], list[int]]:
    """The special-token ids the tokenizer puts before and after a single text.

    Read off the tokenizer itself (with and without special tokens on a probe text), so
    it holds for any backbone: ``[CLS] .. [SEP]`` for BERT, ``<s> .. </s>`` for RoBERTa.
    """
    probe = "hello"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    framed = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(framed) - len(bare) + 1):
        if framed[start : start + len(bare)] == bare:
            return framed[:start], framed[start + len(bare) :]
    raise ValueError(f"cannot find how {type(tokenizer).__name__} frames a text with special tokens")


class SegmentSlicer:
    def __init__(self, tokenizer, segment_length: int, max_tokens: int) -> None:
        if segment_length < 1:
            raise ValueError(f"segment_length must be at least 1, got {segment_length}")
        if max_tokens < segment_length:
            raise ValueError(f"max_tokens ({max_tokens}) must be at least segment_length ({segment_length})")
        self.tokenizer = tokenizer
        self.segment_length = segment_length
        self.max_tokens = max_tokens
        self.prefix, self.suffix = special_framing(tokenizer)

    def split(self, text: str) -> list[list[int]]:
        """The content-token ids of each segment of one text (no special tokens)."""
        ids = self.tokenizer(clip_text(text, self.max_tokens), add_special_tokens=False, truncation=True,
                             max_length=self.max_tokens)["input_ids"]
        if not ids:
            return [[]]
        return [ids[start : start + self.segment_length] for start in range(0, len(ids), self.segment_length)]

    def __call__(self, texts: list[str]) -> SegmentBatch:
        framed: list[list[int]] = []
        owner: list[int] = []
        content: list[int] = []
        for index, text in enumerate(texts):
            for segment in self.split(text):
                framed.append(self.prefix + segment + self.suffix)
                owner.append(index)
                content.append(len(segment))
        width = max(len(ids) for ids in framed)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(framed), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(framed), width), dtype=torch.long)
        for row, ids in enumerate(framed):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        return SegmentBatch(
            input_ids=input_ids,
            attention_mask=attention_mask,
            segment_text=torch.tensor(owner, dtype=torch.long),
            segment_tokens=torch.tensor(content, dtype=torch.long),
            num_texts=len(texts),
        )


class HiCLEncoder(InputModule):
    """Encodes each text as the (length-weighted) average of its segments' vectors.

    All segments of all texts in a batch go through the backbone together as one batch of
    short inputs: attention cost grows with the segment length, not the text length.
    """

    config_file_name = "hicl_config.json"
    config_keys = ["segment_length", "max_tokens", "pooling", "aggregation", "recipe"]
    save_in_root = True

    def __init__(
        self,
        model_name_or_path: str,
        segment_length: int = 32,
        max_tokens: int = 256,
        pooling: str = "mean",
        aggregation: str = "weighted",
        recipe: dict[str, Any] | None = None,
    ) -> None:
        """``recipe``: the training settings the weights came from, kept in the module's
        config so that a copy saved anywhere (``save_pretrained``) still says what it is."""
        super().__init__()
        self.recipe = recipe
        self.backbone = AutoModel.from_pretrained(model_name_or_path, trust_remote_code=False)
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=False)
        self.segment_length = segment_length
        self.max_tokens = max_tokens
        self.pooling = pooling
        self.aggregation = aggregation
        self.slicer = SegmentSlicer(self.tokenizer, segment_length, max_tokens)
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")

    @property
    def max_seq_length(self) -> int:
        return self.max_tokens

    def preprocess(self, inputs, prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        texts = []
        for item in inputs:
            if not isinstance(item, str):
                raise TypeError(f"HiCL encodes text only, got {type(item).__name__}")
            texts.append(prompt + item if prompt else item)
        return self.slicer(texts).as_features()

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        hidden = self.backbone(
            input_ids=features["input_ids"], attention_mask=features["attention_mask"]
        ).last_hidden_state
        segments = pool_segments(hidden, features["attention_mask"], self.pooling)
        features["segment_embeddings"] = segments
        features["sentence_embedding"] = aggregate_segments(
            segments, features["segment_text"], features["segment_tokens"], int(features["num_texts"]), self.aggregation
        )
        return features

    def get_embedding_dimension(self) -> int:
        return int(self.backbone.config.hidden_size)

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.backbone.save_pretrained(output_path, safe_serialization=safe_serialization)
        self.tokenizer.save_pretrained(output_path)
        self.save_config(output_path)
        if Path(__file__).resolve() != (Path(output_path) / CODE_FILE).resolve():
            shutil.copyfile(__file__, Path(output_path) / CODE_FILE)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", token=None, cache_folder=None, revision=None,
             local_files_only: bool = False, **kwargs) -> HiCLEncoder:
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        folder = cls.load_dir_path(model_name_or_path, subfolder=subfolder, **hub)
        return cls(folder, **{key: config[key] for key in cls.config_keys if key in config})
