"""Loading and saving sentence-transformers model folders safely: no code from a folder
ever runs, texts are cut to the character bound of the model's ``max_seq_length`` before
tokenizing (:mod:`hyperret_eval.models.text_bound`), and a save replaces the folder
atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sentence_transformers import SentenceTransformer

from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json
from hyperret_eval.core.library_internals import load_with_module_classes
from hyperret_eval.core.paths import inside
from hyperret_eval.models.folder_safety import check_model_folder
from hyperret_eval.models.text_bound import clip_text
from hyperret_eval.models.weights import unreadable


class BoundedSentenceTransformer(SentenceTransformer):
    def preprocess(self, inputs, prompt: str | None = None, **kwargs):
        limit = self.max_seq_length
        return super().preprocess([clip_text(item, limit) if isinstance(item, str) else item for item in inputs],
                                  prompt=prompt, **kwargs)


SENTENCE_TRANSFORMERS_PACKAGE = "sentence_transformers."


def _our_module_classes() -> dict[str, type]:
    """The sentence-transformers module classes of this project, by the name ``modules.json``
    gives them. The name is written out, not read off the class: it is what saved
    checkpoints hold, so they keep loading wherever the class comes to live."""
    from hyperret_eval.models.hicl.module import HiCLEncoder

    return {"hyperret_eval.models.hicl.module.HiCLEncoder": HiCLEncoder}


def _module_types(modules_file: Path, root: Path) -> list[str]:
    """The module classes ``modules.json`` names, each module's folder checked to lie inside ``root``."""
    modules = read_json(modules_file, "model's module list")
    well_formed = isinstance(modules, list) and all(
        isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("path", ""), str) for m in modules)
    if not well_formed:
        raise UserError(f"{modules_file}: expected a list of modules, each an object with a string \"type\" and \"path\"")
    for number, module in enumerate(modules):
        inside(root, module.get("path", ""), f"{modules_file}: module {number} path {module.get('path')!r}")
    return [module["type"] for module in modules]


def load_sentence_transformer(path: Path, device: str):
    """Load a local sentence-transformers directory without running code it carries.

    Trust does not depend on the folder: ``trust_remote_code`` is always False, so
    neither library imports code the folder names. sentence-transformers' own module
    classes load as usual; ours (HiCL's) are handed over as classes, not imported by name;
    any other class is refused. :func:`~hyperret_eval.models.folder_safety.check_model_folder`
    first refuses folders that link outside themselves or ask for code.
    Texts are cut to what the model reads before tokenizing (:class:`BoundedSentenceTransformer`).
    """
    check_model_folder(path)
    modules_file = path / "modules.json"
    types = _module_types(modules_file, path) if modules_file.is_file() else []
    ours = _our_module_classes()
    foreign = [t for t in types if not t.startswith(SENTENCE_TRANSFORMERS_PACKAGE) and t not in ours]
    if foreign:
        raise UserError(
            f"{modules_file} names module classes outside sentence-transformers and hyperret-eval "
            f"({', '.join(foreign)}); refusing to import code named by a checkpoint."
        )
    with unreadable(path, "model"):
        ours_used = {t: ours[t] for t in types if t in ours}
        if not ours_used:
            return BoundedSentenceTransformer(str(path), device=device, local_files_only=True, trust_remote_code=False)
        # sentence-transformers' own hook for classes it must not import by name.
        return load_with_module_classes(BoundedSentenceTransformer, str(path), ours_used, device=device,
                                        local_files_only=True, trust_remote_code=False)


def save_sentence_transformer(model: SentenceTransformer, folder: Path, extra: Callable[[Path], None]) -> None:
    """Replace ``folder`` atomically with ``model`` saved in sentence-transformers' layout,
    ``extra(staging)`` adding files (the training state) to the same swap."""

    def fill(staging: Path) -> None:
        model.save(str(staging))
        extra(staging)

    atomic.write_directory(folder, fill)
