"""A resolved model (:class:`~hyperret_eval.catalogue.models.ResolvedModel`) as mteb runs
it: a sentence-transformers model in mteb's encoder wrapper, or a Hypencoder as a search
model; either carries an mteb ``ModelMeta`` named after the model and its revision."""

from __future__ import annotations

from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

from hyperret_eval.catalogue.models import ResolvedModel
from hyperret_eval.core.errors import UserError
from hyperret_eval.integrations.mteb_meta import (
    KeepsCheckpointRevision, described_by_mteb, inherited_metadata, trained_metadata,
)
from hyperret_eval.integrations.mteb_search import HypencoderMTEBSearch
from hyperret_eval.models.sentence_model import load_sentence_transformer
from hyperret_eval.search.settings import SearchSettings


class CheckpointEncoderWrapper(KeepsCheckpointRevision, SentenceTransformerEncoderWrapper):
    """mteb's sentence-transformers wrapper, keeping the revision it was loaded with."""


def load_for_mteb(resolved: ResolvedModel, device: str, search: SearchSettings | None = None):
    """The model as mteb runs it: an encoder, or for a Hypencoder a search model that
    searches as ``search`` says (default: exhaustively)."""
    if resolved.kind == "hypencoder":
        return _hypencoder(resolved, device, search)
    if search is not None:
        raise UserError(f"{resolved.key}: search settings are for a Hypencoder; {resolved.describe} is an "
                        "embedding model")
    model = load_sentence_transformer(resolved.path, device)
    wrapper = CheckpointEncoderWrapper(model)
    meta = described_by_mteb(resolved.mteb_meta_from) or _meta_from_model(model)
    wrapper.mteb_model_meta = _described(meta, resolved, model)
    return wrapper


def _described(meta, resolved: ResolvedModel, model):
    """``meta`` naming the model, saying what it was trained on, and completed from the
    loaded weights where it is silent: the parameter count, the paper of what the model is
    (the leaderboard shows both), and for a checkpoint one of our recipes trained, what it
    keeps of the model it started from: its licence and languages, and open weights."""
    update = {"name": resolved.mteb_name, "revision": resolved.revision,
              **trained_metadata(resolved.training_datasets, resolved.adapted_from)}
    if meta.n_parameters is None:
        update["n_parameters"] = sum(parameter.numel() for parameter in model.parameters())
    ours = resolved.source == "recipe" or resolved.recipe is not None
    if meta.reference is None and resolved.paper is not None:
        update["reference"] = resolved.paper
    if ours:
        update.update({key: value for key, value in inherited_metadata(resolved.adapted_from).items()
                       if getattr(meta, key) is None})
    return meta.model_copy(update=update)


def _meta_from_model(model):
    from mteb.models import ModelMeta

    return ModelMeta.from_sentence_transformer_model(model)


def _hypencoder(resolved: ResolvedModel, device: str, search: SearchSettings | None) -> HypencoderMTEBSearch:
    from mteb.models import ModelMeta

    from hyperret_eval.models.hypencoder import Hypencoder

    model = Hypencoder.from_pretrained(resolved.path).to(device)
    meta = described_by_mteb(resolved.mteb_meta_from) or ModelMeta.create_empty(
        overwrites={"framework": ["PyTorch"], "model_type": ["dense"]})
    return HypencoderMTEBSearch(model, _described(meta, resolved, model), settings=search)
