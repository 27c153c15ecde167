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
from hyperret_eval.models.folder_safety import check_model_folder, check_vocabulary
from hyperret_eval.models.text_bound import clip_text
from hyperret_eval.models.weights import unreadable


class BoundedSentenceTransformer(SentenceTransformer):
    def preprocess(self, inputs, prompt: str | None = None, **kwargs):
        limit = self.max_seq_length
        return super().preprocess([clip_text(item, limit) if isinstance(item, str) else item for item in inputs],
                                  prompt=prompt, **kwargs)

    def save(self, path: str, *args, **kwargs) -> None:
        """sentence-transformers' save (``save_pretrained`` too), naming our module classes
        by the file the folder carries, so the copy loads without this package as well."""
        super().save(path, *args, **kwargs)
        _name_portable_module_types(Path(path))


# How a checkpoint names HiCL's module: by the file it carries (what sentence-transformers
# imports with trust_remote_code=True where this package is not installed).
PORTABLE_HICL_TYPE = "modeling_hicl.HiCLEncoder"


def _our_module_classes() -> dict[str, type]:
    """The sentence-transformers module classes of this project, by the names ``modules.json``
    gives them: the portable name, the class's path here (a plain sentence-transformers
    save), and the path it had before it moved. Names are written out, not read off the
    class: they are what saved checkpoints hold. Whatever the name, this installed class
    is used; the file a checkpoint carries is never imported."""
    from hyperret_eval.models.hicl.modeling_hicl import HiCLEncoder

    return {name: HiCLEncoder for name in (PORTABLE_HICL_TYPE, "hyperret_eval.models.hicl.modeling_hicl.HiCLEncoder",
                                           "hyperret_eval.models.hicl.module.HiCLEncoder")}


def _name_portable_module_types(folder: Path) -> None:
    """Rewrite ``modules.json`` in a folder just saved so that our module classes go by
    their portable name."""
    modules_file = folder / "modules.json"
    modules = read_json(modules_file, "model's module list")
    ours = _our_module_classes()
    if any(module.get("type") in ours for module in modules):
        atomic.write_json(modules_file, [{**module, "type": PORTABLE_HICL_TYPE} if module.get("type") in ours
                                         else module for module in modules])


def _library_module_classes() -> dict[str, type]:
    """The sentence-transformers module classes a model folder may name, each under the
    names ``modules.json`` files hold: the old ``sentence_transformers.models.<Class>``, the
    defining module's (what a save writes) and the package that exports it. Only these
    classes are handed to sentence-transformers: no name in a folder is imported."""
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Dropout, LayerNorm, Pooling, WeightedLayerPooling

    names = {}
    for cls in (Transformer, Pooling, Normalize, Dense, Dropout, LayerNorm, WeightedLayerPooling):
        package = cls.__module__.rsplit(".", 1)[0]
        for name in (f"sentence_transformers.models.{cls.__name__}", f"{cls.__module__}.{cls.__name__}",
                     f"{package}.{cls.__name__}"):
            names[name] = cls
    return names


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
    neither library imports code the folder names. The module classes we support,
    sentence-transformers' (:func:`_library_module_classes`) and ours (HiCL's), are handed
    over as classes, not imported by name; any other name is refused. :func:`~hyperret_eval.models.folder_safety.check_model_folder`
    first refuses folders that link outside themselves or ask for code.
    Texts are cut to what the model reads before tokenizing (:class:`BoundedSentenceTransformer`).
    """
    check_model_folder(path)
    modules_file = path / "modules.json"
    types = _module_types(modules_file, path) if modules_file.is_file() else []
    supported = {**_library_module_classes(), **_our_module_classes()}
    foreign = [t for t in types if t not in supported]
    if foreign:
        raise UserError(
            f"{modules_file} names module classes that are not among those supported "
            f"({', '.join(foreign)}); refusing to import code named by a checkpoint. Supported: "
            f"{', '.join(sorted(supported))}."
        )
    with unreadable(path, "model"):
        # sentence-transformers' own hook for classes it must not import by name.
        model = load_with_module_classes(BoundedSentenceTransformer, str(path), {t: supported[t] for t in types},
                                         device=device, local_files_only=True, trust_remote_code=False)
    for module in model:
        tokenizer = getattr(module, "tokenizer", None)
        backbone = getattr(module, "auto_model", None) or getattr(module, "backbone", None)
        if tokenizer is not None and hasattr(backbone, "get_input_embeddings"):
            check_vocabulary(tokenizer, backbone, path)
    return model


def save_sentence_transformer(model: SentenceTransformer, folder: Path, extra: Callable[[Path], None]) -> None:
    """Replace ``folder`` atomically with ``model`` saved in sentence-transformers' layout,
    ``extra(staging)`` adding files (the training state) to the same swap."""

    def fill(staging: Path) -> None:
        model.save(str(staging))
        _name_portable_module_types(staging)
        extra(staging)

    atomic.write_directory(folder, fill)
