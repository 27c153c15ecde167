"""Turning the errors that damaged weights raise into messages naming the file.

A checkpoint can be cut short (a copy interrupted, a disk full before this project wrote
atomically), or hold a pickle that is more than tensors (``weights_only`` loading refuses
it; nothing in it runs). torch, safetensors and transformers then raise low-level errors
of several types; :func:`unreadable` names the file instead.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from hyperret_eval.core.errors import UserError

def _errors() -> tuple[type[BaseException], ...]:
    from safetensors import SafetensorError

    # RuntimeError: torch's "PytorchStreamReader failed reading zip archive"; EOFError: an
    # empty file; UnpicklingError: a pickle that weights_only refuses.
    return (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, SafetensorError)


@contextmanager
def unreadable(path: Path, what: str, error: Callable[[str], UserError] = UserError) -> Iterator[None]:
    """Within the block, reading ``path`` (the ``what``) may fail only with ``error(message)``."""
    import torch

    try:
        yield
    except torch.OutOfMemoryError:  # a RuntimeError, but not the file's fault
        raise
    except _errors() as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise error(f"{path}: cannot read the {what} (truncated, or not a file this project wrote?): {reason}") from None
