"""Fetching a model snapshot from the Hugging Face hub: the one place that does it.

``--models org/name``, ``Hypencoder.from_pretrained("org/name")`` and a training backbone
given as a hub id all call :func:`fetch_snapshot`. It downloads into the hub cache only the
files a loader reads (:data:`LOADER_FILES`), never code a repository carries, and returns
the snapshot folder, which huggingface_hub names by the hub commit.

The environment is read at call time, not at import as huggingface_hub does:
``HF_ENDPOINT`` (which hub), ``HF_HUB_CACHE`` (where its cache is), and the offline switches
of :func:`hyperret_eval.data.download.offline_variable` (then only a cached snapshot is used).

Why a probe before the download: huggingface_hub looks a repository up with no timeout, so
a hub that accepts connections and never answers, or a firewall that drops them, would hang
the run. The probe asks the same question within ``HF_HUB_ETAG_TIMEOUT`` seconds (10 by
default); without an answer the cache is used, and without a cached copy the error says why.
The probe and the download together have an overall deadline and a size cap
(:mod:`hyperret_eval.data.fetch_limits`); files a failed download left half-written in the
hub cache are removed.
"""

from __future__ import annotations

import os
from pathlib import Path

from hyperret_eval.core.errors import HubError
from hyperret_eval.data.download import hub_endpoint, offline_variable
from hyperret_eval.data.fetch_limits import Budget, FetchLimits, hub_budget

LOADER_FILES = (
    # transformers: config and weights, whole or sharded
    "config.json", "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
    "pytorch_model.bin", "pytorch_model-*.bin", "pytorch_model.bin.index.json",
    # tokenizers
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
    # sentence-transformers: the module list, its settings, module folders (1_Pooling, 2_Dense, ...)
    "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "[0-9]*_*/*",
)
NEVER_FETCHED = ("*.py",)  # code a module folder may carry: never downloaded, let alone run


def looks_like_hub_id(name: str) -> bool:
    """``org/name``: exactly one slash, both parts non-empty, not written as a path."""
    return name.count("/") == 1 and all(name.split("/")) and not name.startswith((".", "~"))


def fetch_snapshot(repo_id: str, limits: FetchLimits | None = None) -> Path:
    """The local snapshot folder of hub model ``repo_id`` (downloaded now unless cached,
    within ``limits``: by default those the environment sets), or a :class:`HubError`
    saying in one paragraph why there is none."""
    from huggingface_hub import constants, snapshot_download

    endpoint = hub_endpoint()
    cache = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE
    offline = offline_variable()
    unanswered: Exception | None = None
    budget = Budget(limits or FetchLimits.from_env(), f"fetching {repo_id} from the hub")
    try:
        with hub_budget(budget):
            unanswered = None if offline else _unanswered_probe(repo_id, endpoint)
            return Path(snapshot_download(
                repo_id, endpoint=endpoint, cache_dir=cache, local_files_only=bool(offline or unanswered),
                allow_patterns=list(LOADER_FILES), ignore_patterns=list(NEVER_FETCHED),
            ))
    except Exception as exc:  # the hub client raises many types; each becomes one message
        _remove_incomplete(Path(cache), repo_id)
        reason = _reason(exc, offline, unanswered, cache)
        raise HubError(
            f"Cannot use model {repo_id!r}: it is not a local folder, so it must come from the Hugging Face "
            f"hub ({endpoint}), but {reason}. Check the name, or give a local model folder; a hub model "
            "fetched once while online is reused from the cache when offline."
        ) from None


def _remove_incomplete(cache: Path, repo_id: str) -> None:
    """Delete the ``.incomplete`` blobs a failed download left in the repository's cache folder."""
    blobs = cache / f"models--{repo_id.replace('/', '--')}" / "blobs"
    if blobs.is_dir() and not blobs.is_symlink():
        for partial in blobs.glob("*.incomplete"):
            partial.unlink(missing_ok=True)


def _unanswered_probe(repo_id: str, endpoint: str) -> Exception | None:
    """Ask the hub about ``repo_id`` within the timeout. Returns the error when no answer
    came (refused, timed out, hub down), None when it answered; an answer that is an error
    (no such model, gated, not a valid id) is raised."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import HfHubHTTPError, HFValidationError

    try:
        HfApi(endpoint=endpoint).model_info(repo_id, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except HFValidationError:
        raise
    except HfHubHTTPError as exc:
        if getattr(exc.response, "status_code", 0) >= 500:
            return exc
        raise
    except Exception as exc:  # the HTTP library's own errors: connection refused, timeout
        return exc
    return None


def _reason(exc: Exception, offline: str | None, unanswered: Exception | None, cache: str) -> str:
    from huggingface_hub.utils import GatedRepoError, HFValidationError, RepositoryNotFoundError

    if isinstance(exc, HFValidationError):
        return f"it is not a valid hub id ({_one_line(exc)})"
    if isinstance(exc, (RepositoryNotFoundError, GatedRepoError)):
        return "the hub has no model of that name that this machine may read (misspelt, private or gated)"
    no_copy = f"the hub cache ({cache}) holds no complete copy of it"
    if offline:
        return f"offline mode is set ({offline}) and {no_copy}"
    if unanswered is not None:
        return f"the hub did not answer ({_one_line(unanswered)}) and {no_copy}"
    return f"the download failed ({_one_line(exc)})"


def _one_line(exc: Exception, limit: int = 200) -> str:
    """An exception as ``Type: first line``, short enough for a one-paragraph message."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
