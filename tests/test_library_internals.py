"""Canaries for the other libraries' private parts we use (core/library_internals.py): each
test fails naming the part a new release moved, and no other module of ours touches them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import hyperret_eval
from hyperret_eval.core import library_internals

PACKAGE = Path(hyperret_eval.__file__).parent
PRIVATE_NAMES = ("_load_with_module_classes", "_create_dataloaders", "_calculate_scores", "MODEL_REGISTRY",
                 "utils._http", "hf_request_event_hook")


def test_sentence_transformers_still_loads_with_module_classes():
    from sentence_transformers import SentenceTransformer

    hook = getattr(SentenceTransformer, "_load_with_module_classes", None)
    assert hook is not None, "sentence-transformers no longer has SentenceTransformer._load_with_module_classes"
    parameters = list(inspect.signature(hook).parameters)
    assert parameters[:2] == ["model_name_or_path", "module_classes"], (
        f"SentenceTransformer._load_with_module_classes changed its parameters: {parameters}")


def test_mteb_still_has_its_dataloader_factory():
    try:
        from mteb._create_dataloaders import create_dataloader
    except ImportError as exc:
        pytest.fail(f"mteb moved mteb._create_dataloaders.create_dataloader: {exc}")
    parameters = inspect.signature(create_dataloader).parameters
    for name in ("task_metadata", "prompt_type", "batch_size", "num_proc"):
        assert name in parameters, f"mteb's create_dataloader no longer takes {name!r}"


def test_mteb_sts_still_calculates_scores_in_one_overridable_step():
    from mteb.abstasks.sts import AbsTaskSTS

    step = getattr(AbsTaskSTS, "_calculate_scores", None)
    assert step is not None, "mteb's AbsTaskSTS no longer has _calculate_scores"
    assert list(inspect.signature(step).parameters) == ["self", "scores", "normalized_scores"], (
        "mteb's AbsTaskSTS._calculate_scores changed its parameters")
    assert "self._calculate_scores(" in inspect.getsource(AbsTaskSTS), (
        "mteb's AbsTaskSTS no longer calls self._calculate_scores: the per-pair scores would not be kept")


def test_mteb_still_finds_models_in_its_registry():
    import mteb
    from mteb.models import ModelMeta

    meta = ModelMeta(loader=None, name="hyperret-canary/registry-probe", revision="0", release_date=None,
                     languages=None, n_parameters=None, memory_usage_mb=None, max_tokens=None, embed_dim=None,
                     license=None, open_weights=None, public_training_code=None, public_training_data=None,
                     framework=[], reference=None, similarity_fn_name=None, use_instructions=None,
                     training_datasets=None)
    library_internals.add_to_mteb_registry([meta])
    try:
        assert mteb.get_model_meta("hyperret-canary/registry-probe") is meta, (
            "mteb.get_model_meta no longer reads mteb.models.model_implementations.MODEL_REGISTRY")
    finally:
        from mteb.models.model_implementations import MODEL_REGISTRY

        MODEL_REGISTRY.pop(meta.name, None)


def test_huggingface_hub_still_has_its_request_hook():
    try:
        hook = library_internals.hub_request_event_hook()
    except ImportError as exc:
        pytest.fail(f"huggingface_hub moved huggingface_hub.utils._http.hf_request_event_hook: {exc}")
    assert callable(hook), "huggingface_hub's hf_request_event_hook is no longer a function"


def test_mteb_wrapper_still_holds_its_sentence_transformer(minilm):
    from sentence_transformers import SentenceTransformer

    assert isinstance(library_internals.wrapped_sentence_transformer(minilm), SentenceTransformer), (
        "mteb's SentenceTransformerEncoderWrapper no longer keeps the model as .model")


def test_no_other_module_touches_a_private_part():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "library_internals.py":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(PACKAGE)}: {name}" for name in PRIVATE_NAMES if name in text]
        if re.search(r"\bmodel\.model\.", text):
            offenders.append(f"{path.relative_to(PACKAGE)}: model.model.")
    assert offenders == []
