"""Cut texts into fixed-length token segments, each framed as an input of its own.

A text is tokenized without special tokens and truncated to ``max_tokens``; its tokens
are cut into consecutive segments of ``segment_length`` tokens (the last may be shorter),
and every segment gets the backbone's special tokens (``[CLS] ... [SEP]`` for BERT-like
models). An empty or whitespace-only text becomes one segment holding only the special
tokens, exactly what the backbone would see for it. A text of at most ``segment_length``
tokens is therefore one segment, tokenized exactly as the backbone tokenizes it whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hyperret_eval.models.text_bound import clip_text


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
