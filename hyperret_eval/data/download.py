"""Fetching missing datasets from their public sources, only when online.

Both fetchers download into a temporary folder beside the destination and move it into
place when complete, so an interrupted download never leaves a half dataset behind: a
failed one removes its folder, and the folder of a killed one (named after its process,
:func:`hyperret_eval.core.atomic.staging_folder`) is removed by the next download of the
same dataset. Failures raise :class:`DownloadError`; every read has a timeout, so an
offline machine fails fast instead of hanging, and every download an overall deadline and
a size cap (:mod:`hyperret_eval.data.fetch_limits`).
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import zipfile
from collections.abc import Callable
from pathlib import Path

from hyperret_eval.core import atomic
from hyperret_eval.core.bars import progress_bar
from hyperret_eval.data.fetch_limits import Budget, FetchLimitError, FetchLimits, hub_budget, open_url


TIMEOUT_SECONDS = 30
OFFLINE_ENV = ("HYPERRET_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


class DownloadError(Exception):
    """A fetch that could not complete (offline, refused, not found)."""


def offline_variable() -> str | None:
    """The first of :data:`OFFLINE_ENV` that is set to a true value, read now (not at import)."""
    return next((name for name in OFFLINE_ENV
                 if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}), None)


def offline_requested() -> bool:
    return offline_variable() is not None


def hub_endpoint() -> str:
    """The hub the environment names (``HF_ENDPOINT``), read now rather than at import as
    huggingface_hub reads it."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT


def _staging_dir(destination: Path) -> Path:
    return atomic.staging_folder(destination)


def download_beir_zip(url: str, destination: Path, limits: FetchLimits | None = None) -> Path:
    """Download a BEIR dataset zip and unpack its single top folder to ``destination``,
    within ``limits`` (by default those the environment sets)."""
    if offline_requested():
        raise DownloadError(f"offline mode is set ({'/'.join(OFFLINE_ENV)}), not downloading {url}")
    budget = Budget(limits or FetchLimits.from_env(), f"the download of {url}")
    staging = _staging_dir(destination)
    try:
        archive = staging / "dataset.zip"
        try:
            with open_url(url, budget, TIMEOUT_SECONDS) as response, open(archive, "wb") as out:
                with progress_bar(total=response.length, unit="B", unit_scale=True,
                                  desc=f"Downloading {destination.name}") as bar:
                    for chunk in response.chunks():
                        out.write(chunk)
                        bar.update(len(chunk))
        except FetchLimitError as exc:
            raise DownloadError(str(exc)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise DownloadError(f"could not download {url}: {exc}") from None
        _unpack(archive, staging / "unpacked", url, budget.limits.max_bytes)
        unpacked = [p for p in (staging / "unpacked").iterdir() if p.is_dir()]
        root = unpacked[0] if len(unpacked) == 1 else staging / "unpacked"
        os.replace(root, destination)
        return destination
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(archive: Path, target: Path, url: str, max_bytes: int) -> None:
    """Extract a zip after checking that what its index declares fits the size cap and the disk."""
    try:
        with zipfile.ZipFile(archive) as zf:
            declared = sum(member.file_size for member in zf.infolist())
            if declared > max_bytes:
                raise DownloadError(f"{url} unpacks to {declared} bytes, more than the {max_bytes} byte cap "
                                    f"(HYPERRET_FETCH_MAX_BYTES)")
            free = shutil.disk_usage(archive.parent).free
            if declared > free:
                raise DownloadError(f"{url} unpacks to {declared / 1e9:.1f} GB; only {free / 1e9:.1f} GB are free "
                                    f"under {archive.parent.parent}")
            zf.extractall(target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DownloadError(f"{url} is not a readable zip archive ({exc})") from None


def download_hf_dataset(repo_id: str, revision: str | None, destination: Path,
                        convert: Callable[[Path, Path], None] | None = None, limits: FetchLimits | None = None,
                        allow_patterns: tuple[str, ...] | None = None) -> Path:
    """Snapshot a dataset repository from the Hugging Face hub into ``destination`` within
    ``limits``; with ``convert``, what lands there is instead the folder
    ``convert(snapshot, folder)`` writes. ``allow_patterns`` limits the snapshot to the
    files they match."""
    if offline_requested():
        raise DownloadError(f"offline mode is set ({'/'.join(OFFLINE_ENV)}), not downloading {repo_id}")
    from huggingface_hub import HfApi, constants, snapshot_download

    # Read now, not at import as huggingface_hub does. The lookup first, within the hub
    # client's own timeout: the download retries an unreachable hub for half a minute.
    endpoint = hub_endpoint()
    budget = Budget(limits or FetchLimits.from_env(), f"the download of {repo_id}")
    staging = _staging_dir(destination)
    try:
        try:
            with hub_budget(budget):
                HfApi(endpoint=endpoint).dataset_info(repo_id, revision=revision, timeout=constants.HF_HUB_ETAG_TIMEOUT)
                snapshot_download(repo_id, repo_type="dataset", revision=revision, endpoint=endpoint,
                                  local_dir=staging / "snapshot",
                                  allow_patterns=list(allow_patterns) if allow_patterns else None)
        except Exception as exc:  # the hub client raises many types for "no network"
            raise DownloadError(f"could not download {repo_id} from the Hugging Face hub ({endpoint}): "
                                f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}") from None
        result = staging / "snapshot"
        if convert is not None:
            result = staging / "converted"
            try:
                convert(staging / "snapshot", result)
            except Exception as exc:  # mteb's loader and datasets raise many types for a bad layout
                raise DownloadError(f"{repo_id} could not be read as a retrieval dataset: {exc}") from None
        os.replace(result, destination)
        return destination
    finally:
        shutil.rmtree(staging, ignore_errors=True)


HUB_FILE_PREFIX = "hf://datasets/"  # hf://datasets/<org>/<name>/<file>: one file of a hub dataset


def is_hub_file(reference: str) -> bool:
    return reference.startswith(HUB_FILE_PREFIX)


def hub_file(reference: str, cache_root: Path, limits: FetchLimits | None = None) -> Path:
    """The local copy of one file of a hub dataset (``hf://datasets/<org>/<name>/<file>``,
    SimCSE's ``wiki1m_for_simcse.txt`` for one), under ``cache_root/hub-files``; fetched
    once, when this machine is online, within ``limits``, and moved into place whole."""
    from hyperret_eval.core.errors import DataNotFoundError
    from hyperret_eval.core.paths import safe_name

    parts = reference.removeprefix(HUB_FILE_PREFIX).split("/")
    if len(parts) < 3 or not all(parts):
        raise DataNotFoundError(f"{reference}: expected {HUB_FILE_PREFIX}<org>/<dataset>/<file>")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    for part in parts:
        safe_name(part, f"{reference}: each part")
    target = cache_root / "hub-files" / repo_id.replace("/", "__") / filename
    if target.is_file():
        return target
    how = (f"download it ({repo_id}, file {filename}) when online, or set text_file to a local copy "
           f"(or put one at {target})")
    if offline_requested():
        raise DataNotFoundError(f"{reference} is not in the cache and offline mode is set ({offline_variable()}): {how}")
    from huggingface_hub import constants, hf_hub_download

    endpoint = hub_endpoint()
    budget = Budget(limits or FetchLimits.from_env(), f"the download of {reference}")
    staging = _staging_dir(target)
    try:
        with hub_budget(budget):
            fetched = hf_hub_download(repo_id, filename, repo_type="dataset", endpoint=endpoint, local_dir=staging,
                                      etag_timeout=constants.HF_HUB_ETAG_TIMEOUT)
        os.replace(fetched, target)
    except Exception as exc:  # the hub client raises many types for "no network"
        raise DataNotFoundError(f"{reference}: could not download it from the Hugging Face hub ({endpoint}): "
                                f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}; {how}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
