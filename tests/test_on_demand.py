"""Checkpoints on demand: `run` trains a missing recipe checkpoint (once, even with two
processes asking at the same time), reuses a complete one, retrains on request, refuses
with --no-train, and names checkpoints by recipe settings and training data."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperret_eval.catalogue.checkpoints import ensure_checkpoint, locate_checkpoint
from hyperret_eval.catalogue.recipe_files import load_recipe_file
from hyperret_eval.cli import main
from hyperret_eval.core import atomic
from hyperret_eval.core.errors import UserError
from hyperret_eval.core.provenance import file_sha256, model_sha256
from hyperret_eval.models.training_state import training_code_sha256

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "the cat sat on the mat", "stock markets fell sharply on monday", "a recipe for lemon cake",
    "the team won the championship final", "rain is expected over the weekend", "new vaccine trial shows promise",
    "how to repair a bicycle puncture", "the museum opens a dinosaur exhibit",
]
TINY_SETTINGS = {"recipe": "hicl", "text_file": "texts.txt", "max_steps": 2, "batch_size": 4,
                 "segment_length": 8, "max_tokens": 32, "save_every": 1}


def _toml(settings: dict) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny_recipe(tmp_path) -> Path:
    """A 2-step HiCL recipe file on an 8-line text file beside it."""
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    recipe = folder / "tiny.toml"
    recipe.write_text(_toml(TINY_SETTINGS), encoding="utf-8")
    return recipe


def _run_sts(capsys, recipe: Path, data_root: Path, output: Path, *extra: str):
    code = main(["run", "--tasks", "STS12", "--models", str(recipe), "--data-root", str(data_root),
                 "--output-dir", str(output), "--device", "cpu", "--no-senteval", "--batch-size", "8", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _sessions(log: Path) -> int:
    return sum(line.startswith("=== ") for line in log.read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_run_trains_a_missing_checkpoint_then_reuses_and_retrains_it(capsys, cache, tiny_recipe, small_data_root,
                                                                      tmp_path):
    checkpoint = locate_checkpoint(load_recipe_file(tiny_recipe), small_data_root)
    state_file = checkpoint.path / "training" / "state.json"

    started = time.perf_counter()
    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, tmp_path / "first")
    print(f"on-demand training + STS12 evaluation: {time.perf_counter() - started:.1f} s")
    assert code == 0, err
    assert "Training hicl-minilm-l6 (from scratch, 2 steps)" in out
    assert json.loads(state_file.read_text())["step"] == 2
    log = checkpoint.log_path.read_text(encoding="utf-8")
    assert _sessions(checkpoint.log_path) == 1
    assert '"max_steps": 2' in log and checkpoint.training_data["revision"] in log
    assert "step 1/2 loss=" in log and "step 2/2 loss=" in log and "finished after" in log

    # The result names the checkpoint, its recipe and the training data behind it.
    result = tmp_path / "first" / "hyperret__hicl-minilm-l6" / checkpoint.fingerprint / "STS12.json"
    provenance = json.loads(result.read_text())["hyperret"]
    assert provenance["source"] == "recipe" and provenance["revision"] == checkpoint.fingerprint
    recorded = provenance["checkpoint"]
    assert recorded["fingerprint"] == checkpoint.fingerprint and recorded["path"] == str(checkpoint.path)
    assert recorded["recipe"]["max_steps"] == 2
    text_file = tiny_recipe.parent / "texts.txt"
    assert recorded["training_data"]["files_sha256"] == {str(text_file): file_sha256(text_file)}

    trained_at = state_file.stat().st_mtime_ns
    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, tmp_path / "second")
    assert code == 0, err
    assert f"Reusing checkpoint {checkpoint.path}" in out and "Training" not in out
    assert state_file.stat().st_mtime_ns == trained_at and _sessions(checkpoint.log_path) == 1

    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, tmp_path / "third", "--retrain")
    assert code == 0, err
    assert "Training hicl-minilm-l6 (from scratch" in out
    assert state_file.stat().st_mtime_ns != trained_at and _sessions(checkpoint.log_path) == 2
    assert json.loads(state_file.read_text())["step"] == 2
    assert sorted(p.name for p in checkpoint.path.parent.iterdir()) == sorted(
        [checkpoint.fingerprint, checkpoint.log_path.name, checkpoint.lock_path.name])


@pytest.mark.slow
def test_a_failed_retrain_leaves_the_old_checkpoint_whole(cache, tiny_recipe, monkeypatch):
    from hyperret_eval.catalogue import checkpoints

    checkpoint = locate_checkpoint(load_recipe_file(tiny_recipe), None)
    ensure_checkpoint(checkpoint, "tiny", "cpu")
    before = (checkpoint.path / "training" / "state.json").read_bytes()

    def dies_halfway(config, output, data_root, device, on_step=None):
        (output / "half-written").write_text("x")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "train_recipe", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        ensure_checkpoint(checkpoint, "tiny", "cpu", retrain=True)
    assert (checkpoint.path / "training" / "state.json").read_bytes() == before
    assert not (checkpoint.path / "half-written").exists()
    assert [p.name for p in checkpoint.path.parent.iterdir() if p.name.startswith(".")] == []
    assert "stopped by KeyboardInterrupt" in checkpoint.log_path.read_text()


def test_no_train_fails_cleanly_without_training(capsys, cache, tiny_recipe, small_data_root, tmp_path):
    output = tmp_path / "results"
    code, _, err = _run_sts(capsys, tiny_recipe, small_data_root, output, "--no-train")
    checkpoint = locate_checkpoint(load_recipe_file(tiny_recipe), small_data_root)
    assert code == 2 and "Traceback" not in err
    assert f"Model {str(tiny_recipe)!r} has no complete trained checkpoint (looked for {checkpoint.path})" in err
    assert f"hyperret-eval train {tiny_recipe} --data-root {small_data_root}" in err
    assert not output.exists() and not checkpoint.path.exists()


def test_retrain_and_no_train_exclude_each_other(capsys, tiny_recipe, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--models", str(tiny_recipe), "--retrain", "--no-train"])
    assert exit_info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_recipe_file_with_unknown_setting_names_the_file(capsys, cache, tiny_recipe, small_data_root, tmp_path):
    bad = tiny_recipe.with_name("bad.toml")
    bad.write_text(_toml({**TINY_SETTINGS, "segment_lenght": 16}), encoding="utf-8")
    output = tmp_path / "results"
    code, _, err = _run_sts(capsys, bad, small_data_root, output)
    assert code == 2 and "Traceback" not in err
    assert f"{bad}: unknown training setting(s) segment_lenght" in err
    assert not output.exists() and not cache.exists()


def test_recipe_file_needs_a_known_base_recipe(tiny_recipe):
    for settings, message in (({"max_steps": 2}, "has no `recipe` key"),
                              ({"recipe": "hicll"}, "names an unknown recipe 'hicll'")):
        tiny_recipe.write_text(_toml(settings), encoding="utf-8")
        with pytest.raises(UserError, match=message):
            load_recipe_file(tiny_recipe)


def test_recipe_file_with_wrongly_typed_settings_names_them(tiny_recipe):
    tiny_recipe.write_text(_toml({**TINY_SETTINGS, "max_steps": "ten", "alpha": True}), encoding="utf-8")
    with pytest.raises(UserError, match=r"wrong type: max_steps = 'ten' \(expected int\); alpha = True \(expected float\)"):
        load_recipe_file(tiny_recipe)
    tiny_recipe.write_text(_toml({**TINY_SETTINGS, "alpha": 1}), encoding="utf-8")
    assert load_recipe_file(tiny_recipe).alpha == 1  # an integer where a float is expected is fine


def test_toml_json_and_yaml_recipe_files_agree(tiny_recipe):
    import yaml

    as_json = tiny_recipe.with_suffix(".json")
    as_json.write_text(json.dumps(TINY_SETTINGS), encoding="utf-8")
    as_yaml = tiny_recipe.with_suffix(".yaml")
    as_yaml.write_text(yaml.safe_dump({**TINY_SETTINGS, "name": "tiny-hicl"}), encoding="utf-8")
    toml_config, json_config, yaml_config = (load_recipe_file(p) for p in (tiny_recipe, as_json, as_yaml))
    assert toml_config == json_config
    assert toml_config.text_file == str(tiny_recipe.parent / "texts.txt")  # relative to the recipe file
    assert yaml_config.name == "tiny-hicl" and yaml_config.replace(name=toml_config.name) == toml_config


def test_fingerprint_follows_settings_and_training_data(tiny_recipe, tmp_path):
    config = load_recipe_file(tiny_recipe)
    fingerprint = locate_checkpoint(config, None).fingerprint
    assert locate_checkpoint(config, None).fingerprint == fingerprint
    assert locate_checkpoint(config, tmp_path).fingerprint == fingerprint  # a text file needs no data root
    assert locate_checkpoint(config.replace(max_steps=3), None).fingerprint != fingerprint

    text_file = tiny_recipe.parent / "texts.txt"
    text_file.write_text(text_file.read_text() + "one more line\n")
    assert locate_checkpoint(config, None).fingerprint != fingerprint


def test_retrieval_fingerprint_covers_the_beir_split(tmp_path):
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES
    from hyperret_eval.core.errors import DataNotFoundError

    config = NAMED_RECIPES["be"].config
    folder = tmp_path / "data" / "beir" / "scifact"
    (folder / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/test.tsv"):
        (folder / name).write_text(f"{name}\n")
    checkpoint = locate_checkpoint(config, tmp_path / "data")
    assert set(checkpoint.training_data["files_sha256"]) == {
        "beir/scifact/corpus.jsonl", "beir/scifact/queries.jsonl", "beir/scifact/qrels/train.tsv"}

    (folder / "qrels" / "test.tsv").write_text("changed\n")  # not training data
    assert locate_checkpoint(config, tmp_path / "data").fingerprint == checkpoint.fingerprint
    (folder / "qrels" / "train.tsv").write_text("changed\n")
    assert locate_checkpoint(config, tmp_path / "data").fingerprint != checkpoint.fingerprint
    with pytest.raises(DataNotFoundError, match="lacks qrels/dev.tsv"):
        locate_checkpoint(config.__class__(split="dev"), tmp_path / "data")


ENSURE_SCRIPT = """
import sys
from pathlib import Path
from hyperret_eval.catalogue.checkpoints import ensure_checkpoint, locate_checkpoint
from hyperret_eval.catalogue.recipe_files import load_recipe_file

checkpoint = locate_checkpoint(load_recipe_file(Path(sys.argv[1])), None)
ensure_checkpoint(checkpoint, sys.argv[1], "cpu")
print("complete", checkpoint.is_complete(), checkpoint.path)
"""


@pytest.mark.slow
def test_two_processes_asking_for_one_checkpoint_train_it_once(cache, tiny_recipe, tmp_path):
    """The test holds the lock while both processes start, so both must wait for it; then
    exactly one trains and the other finds the checkpoint complete."""
    checkpoint = locate_checkpoint(load_recipe_file(tiny_recipe), None)
    env = {**os.environ, "HYPERRET_CACHE": str(cache)}
    checkpoint.lock_path.parent.mkdir(parents=True)
    with open(checkpoint.lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        workers = [subprocess.Popen([sys.executable, "-u", "-c", ENSURE_SCRIPT, str(tiny_recipe)], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=open(tmp_path / f"stderr-{i}.txt", "w"), text=True)
                   for i in range(2)]
        for worker in workers:
            waiting = next((line for line in worker.stdout if "Waiting for another process" in line), None)
            assert waiting is not None, "a worker ended without waiting for the lock"
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [(tmp_path / f"stderr-{i}.txt").read_text()
                                                                 for i in range(2)]
    assert sorted("Reusing checkpoint" in out for out in outputs) == [False, True]
    assert all(f"complete True {checkpoint.path}" in out for out in outputs)
    assert _sessions(checkpoint.log_path) == 1
    assert len(json.loads((checkpoint.path / "training" / "state.json").read_text())["history"]) == 2


def _tiny_checkpoint(tmp_path):
    from hyperret_eval.catalogue.checkpoints import locate_checkpoint
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES

    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"sentence number {i}\n" for i in range(8)), encoding="utf-8")
    return locate_checkpoint(NAMED_RECIPES["hicl"].config.replace(text_file=str(texts), max_steps=2, batch_size=4), None)


def test_unwritable_checkpoint_cache_fails_before_training(tmp_path, monkeypatch):
    from hyperret_eval.catalogue.checkpoints import ensure_checkpoint

    (tmp_path / "blocker").write_text("x")
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "blocker" / "cache"))
    with pytest.raises(UserError, match=r"blocker is a file, not a folder \(see HYPERRET_CACHE"):
        ensure_checkpoint(_tiny_checkpoint(tmp_path), "hicl", "cpu", announce=lambda message: None)


def test_checkpoint_moved_aside_by_a_killed_save_is_reused(tmp_path, monkeypatch):
    """A save killed between its two renames leaves the complete checkpoint in an ``.old``
    folder (see atomic's docstring): it is put back and reused, not trained again."""
    from hyperret_eval.catalogue import checkpoints

    def no_training(*args, **kwargs):
        raise AssertionError("the checkpoint was trained again")

    monkeypatch.setattr(checkpoints, "_train", no_training)
    monkeypatch.setenv("HYPERRET_CACHE", str(tmp_path / "cache"))
    checkpoint = _tiny_checkpoint(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = checkpoint.path.with_name(f".{checkpoint.path.name}.old.{atomic._HOST}.{dead.pid}.k1ll3d")
    (aside / atomic.PREVIOUS / "training").mkdir(parents=True)
    (aside / atomic.PREVIOUS / "training" / "state.json").write_text(
        json.dumps({"step": 2, "history": [], "training_code": training_code_sha256()}))
    messages = []
    checkpoints.ensure_checkpoint(checkpoint, "hicl", "cpu", announce=messages.append)
    assert messages == [f"Reusing checkpoint {checkpoint.path}"]
    assert checkpoint.is_complete() and not aside.exists()


def test_named_recipes_keep_the_fingerprints_of_their_committed_results(data_root):
    """Each named recipe, on the shared data, names the very checkpoint its results in
    results/ were computed with: refactoring changed no recipe setting."""
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES

    for key, recipe in NAMED_RECIPES.items():
        committed = REPO / "results" / f"hyperret__{recipe.config.name}"
        assert [p.name for p in committed.iterdir()] == [locate_checkpoint(recipe.config, data_root).fingerprint], key


@pytest.mark.slow
def test_checkpoints_trained_before_still_load(data_root):
    """The checkpoints already trained on this machine (its user's cache, read only) load
    as they did: a Hypencoder through its checkpoint format, BE and HiCL as
    sentence-transformers folders, whose modules.json name our module by its saved path."""
    from hyperret_eval.catalogue.recipes import NAMED_RECIPES, model_kind
    from hyperret_eval.models.hypencoder import Hypencoder
    from hyperret_eval.models.sentence_model import load_sentence_transformer

    trained = Path.home() / ".cache" / "hyperret-eval" / "checkpoints"
    found = 0
    for key in ("hicl", "simcse", "hypencoder", "be"):
        config = NAMED_RECIPES[key].config
        folder = trained / config.name / locate_checkpoint(config, data_root).fingerprint
        if not (folder / "training" / "state.json").is_file():
            continue
        found += 1
        if model_kind(config) == "hypencoder":
            Hypencoder.from_pretrained(folder)
        else:
            load_sentence_transformer(folder, "cpu")
    if not found:
        pytest.skip(f"no checkpoint of a named recipe is trained under {trained}")


def _change_weights(folder: Path) -> None:
    """Nudge one tensor of the model in ``folder``, as another training would."""
    from safetensors.torch import load_file, save_file

    (weights,) = [p for p in folder.rglob("*.safetensors") if "training" not in p.relative_to(folder).parts]
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, weights)


@pytest.mark.slow
def test_a_result_is_reused_only_for_the_model_it_measured(capsys, cache, tiny_recipe, small_data_root, tmp_path):
    """A result records the digest of the model it scored; a run reuses it for that model
    only, never after --retrain; the checkpoint's folder is the same model as its recipe."""
    from hyperret_eval.catalogue.models import resolve_model

    output = tmp_path / "results"
    checkpoint = locate_checkpoint(load_recipe_file(tiny_recipe), small_data_root)
    result = output / "hyperret__hicl-minilm-l6" / checkpoint.fingerprint / "STS12.json"

    def recorded() -> str:
        return json.loads(result.read_text())["hyperret"]["model_sha256"]

    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, output)
    assert code == 0, err
    assert recorded() == model_sha256(checkpoint.path)
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint.path, copy)
    by_recipe = resolve_model(str(tiny_recipe), small_data_root)
    for folder in (checkpoint.path, copy):  # the same model wherever its folder lies
        by_folder = resolve_model(str(folder))
        assert (by_folder.mteb_name, by_folder.revision) == (by_recipe.mteb_name, by_recipe.revision)
    _change_weights(copy)
    assert resolve_model(str(copy)).revision != by_recipe.revision, "a changed copy is another model"

    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, output)
    assert code == 0 and "Skipping" in out, "the same model's result is reused"

    _change_weights(checkpoint.path)  # the same recipe, other weights
    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, output)
    assert code == 0, err
    assert "Skipping" not in out and recorded() == model_sha256(checkpoint.path)

    code, out, err = _run_sts(capsys, tiny_recipe, small_data_root, output, "--retrain")
    assert code == 0, err
    assert "Training hicl-minilm-l6 (from scratch" in out and "Skipping" not in out
    assert recorded() == model_sha256(checkpoint.path)


@pytest.mark.slow
def test_a_checkpoint_trained_by_other_code_is_trained_again(cache, tiny_recipe, monkeypatch):
    from hyperret_eval.models import training_state

    checkpoint = locate_checkpoint(load_recipe_file(tiny_recipe), None)
    ensure_checkpoint(checkpoint, "tiny", "cpu", announce=lambda message: None)
    messages: list[str] = []
    ensure_checkpoint(checkpoint, "tiny", "cpu", announce=messages.append)
    assert messages[0] == f"Reusing checkpoint {checkpoint.path}"

    monkeypatch.setattr(training_state, "training_code_sha256", lambda: "0" * 64)  # the code changed
    messages.clear()
    ensure_checkpoint(checkpoint, "tiny", "cpu", announce=messages.append)
    assert "was trained by other training code" in messages[0]
    assert any(m.startswith("Training hicl-minilm-l6 (from scratch") for m in messages)
    assert json.loads((checkpoint.path / "training" / "state.json").read_text())["training_code"] == "0" * 64

