"""The SentenceTransformer class our loader builds: texts are cut to the character bound
of the model's ``max_seq_length`` before tokenizing (:mod:`hyperret_eval.models.text_bound`)."""

from __future__ import annotations

from sentence_transformers import SentenceTransformer

from hyperret_eval.models.text_bound import clip_text


class BoundedSentenceTransformer(SentenceTransformer):
    def preprocess(self, inputs, prompt: str | None = None, **kwargs):
        limit = self.max_seq_length
        return super().preprocess([clip_text(item, limit) if isinstance(item, str) else item for item in inputs],
                                  prompt=prompt, **kwargs)
