"""HiCL as one sentence-transformers module: slicer + segment encoder + aggregator.

A saved HiCL model is an ordinary sentence-transformers directory whose ``modules.json``
names :class:`HiCLEncoder`; :func:`hyperret_eval.models.sentence_model.load_sentence_transformer`
loads it (handing the class over, so ``trust_remote_code`` stays off).
"""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers.base.modules import InputModule
from transformers import AutoModel, AutoTokenizer

from hyperret_eval.models.folder_safety import check_vocabulary
from hyperret_eval.models.hicl.config import AGGREGATIONS, POOLINGS
from hyperret_eval.models.hicl.pooling import aggregate_segments, pool_segments
from hyperret_eval.models.hicl.slicer import SegmentSlicer


class HiCLEncoder(InputModule):
    """Encodes each text as the (length-weighted) average of its segments' vectors.

    All segments of all texts in a batch go through the backbone together as one batch of
    short inputs: attention cost grows with the segment length, not the text length.
    """

    config_file_name = "hicl_config.json"
    config_keys = ["segment_length", "max_tokens", "pooling", "aggregation"]
    save_in_root = True

    def __init__(
        self,
        model_name_or_path: str,
        segment_length: int = 32,
        max_tokens: int = 256,
        pooling: str = "mean",
        aggregation: str = "weighted",
    ) -> None:
        super().__init__()
        self.backbone = AutoModel.from_pretrained(model_name_or_path, trust_remote_code=False)
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=False)
        check_vocabulary(self.tokenizer, self.backbone, model_name_or_path)
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

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", token=None, cache_folder=None, revision=None,
             local_files_only: bool = False, **kwargs) -> HiCLEncoder:
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        folder = cls.load_dir_path(model_name_or_path, subfolder=subfolder, **hub)
        return cls(folder, **{key: config[key] for key in cls.config_keys if key in config})
