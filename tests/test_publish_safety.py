"""`hyperret-eval publish` under hostile or concurrent use:
two publishes at once both land, no name leads outside ``results/``, a symlinked
leaderboard is written through, and odd result files end in a message."""

from __future__ import annotations

import importlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from .leaderboard_inputs import (
    MINILM_DIR, copy_results, derive_model, minilm_folder, publish, read_json, snapshot, write_json,
)

OTHER = ("hyperret__other-model", "hyperret/other-model", "abcdef012345")


@pytest.fixture
def results(minilm_run_results, tmp_path) -> Path:
    return copy_results(minilm_run_results, tmp_path / "results")


@pytest.fixture
def other_results(minilm_run_results, tmp_path) -> Path:
    """A results folder holding only another model (made from the minilm files)."""
    folder = copy_results(minilm_run_results, tmp_path / "other")
    derive_model(folder, *OTHER)
    shutil.rmtree(folder / MINILM_DIR)
    return folder


@pytest.mark.slow
def test_two_publishes_at_once_both_land(results, other_results, tmp_path, monkeypatch):
    """The first publish pauses between reading the leaderboard and writing it; the second
    starts meanwhile. Without a lock both read the empty board and the last write wins."""
    publishing = importlib.import_module("hyperret_eval.leaderboard.publish")  # the package exports the function

    board = tmp_path / "board"
    real_merge, first = publishing.merge, threading.Event()

    def slow_merge(*args, **kwargs):
        merged = real_merge(*args, **kwargs)
        if not first.is_set():
            first.set()
            time.sleep(1.5)
        return merged

    monkeypatch.setattr(publishing, "merge", slow_merge)
    summaries, errors = [], []

    def run(folder: Path) -> None:
        try:
            summaries.append(publishing.publish([folder], board))
        except Exception as exc:  # reported below
            errors.append(exc)

    one = threading.Thread(target=run, args=(results,))
    one.start()
    assert first.wait(60)
    two = threading.Thread(target=run, args=(other_results,))
    two.start()
    one.join(120)
    two.join(120)
    assert not errors and len(summaries) == 2
    models = {entry["model"] for entry in read_json(board / "leaderboard.json")["entries"]}
    assert models == {"sentence-transformers/all-MiniLM-L6-v2", OTHER[1]}
    assert (board / "results" / OTHER[0] / OTHER[2]).is_dir() and (board / "results" / MINILM_DIR).is_dir()


@pytest.mark.parametrize("name", ["..", "x/../..", "."])
def test_a_model_name_that_leads_elsewhere_is_refused(capsys, other_results, tmp_path, name):
    meta_file = other_results / OTHER[0] / OTHER[2] / "model_meta.json"
    write_json(meta_file, {**read_json(meta_file), "name": name})
    board = tmp_path / "board"
    code, _, err = publish(capsys, other_results, "--leaderboard", board)
    assert code == 2 and "Traceback" not in err
    assert f"names the model {name!r}, but its results lie in the folder {OTHER[0]!r}" in err
    assert not board.exists()


def test_a_model_name_that_differs_from_its_folder_is_refused(capsys, other_results, tmp_path):
    meta_file = other_results / OTHER[0] / OTHER[2] / "model_meta.json"
    write_json(meta_file, {**read_json(meta_file), "name": "hyperret/renamed"})
    code, _, err = publish(capsys, other_results, "--leaderboard", tmp_path / "board")
    assert code == 2 and "names the model 'hyperret/renamed', but its results lie in the folder" in err


@pytest.mark.parametrize("withdrawal", ["..@x", ".@x", "hyperret/m@..", "hyperret/m@../../x"])
def test_withdraw_names_leading_elsewhere_are_refused(capsys, results, tmp_path, withdrawal):
    board = tmp_path / "board"
    assert publish(capsys, results, "--leaderboard", board)[0] == 0
    before = snapshot(board)
    code, _, err = publish(capsys, results, "--leaderboard", board, "--withdraw", withdrawal)
    assert code == 2 and "is not a safe name" in err and "Traceback" not in err
    assert snapshot(board) == before


def test_withdraw_of_an_entry_edited_to_lead_elsewhere_is_refused(capsys, results, tmp_path):
    """A hand-edited leaderboard.json cannot turn a withdrawal into a removal elsewhere."""
    board = tmp_path / "board"
    assert publish(capsys, results, "--leaderboard", board)[0] == 0
    body = read_json(board / "leaderboard.json")
    for entry in body["entries"]:
        entry["revision"] = ".."
    write_json(board / "leaderboard.json", body)
    before = snapshot(board)
    code, _, err = publish(capsys, results, "--leaderboard", board, "--withdraw",
                           "sentence-transformers/all-MiniLM-L6-v2@..")
    assert code == 2 and "'..' is not a safe name" in err
    assert snapshot(board) == before


def test_withdraw_removes_the_folder_publish_wrote(capsys, results, other_results, tmp_path):
    board = tmp_path / "board"
    assert publish(capsys, results, other_results, "--leaderboard", board)[0] == 0
    assert (board / "results" / OTHER[0] / OTHER[2]).is_dir()
    code, _, err = publish(capsys, results, "--leaderboard", board, "--withdraw", f"{OTHER[1]}@{OTHER[2]}")
    assert code == 0, err
    assert not (board / "results" / OTHER[0]).exists() and (board / "results" / MINILM_DIR).is_dir()


def test_a_symlinked_leaderboard_is_written_through(capsys, results, tmp_path):
    target = tmp_path / "webroot" / "board"
    target.mkdir(parents=True)
    link = tmp_path / "board-link"
    link.symlink_to(target, target_is_directory=True)
    code, _, err = publish(capsys, results, "--leaderboard", link)
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert (target / "leaderboard.json").is_file() and (target / "index.html").is_file()


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("file", "damage", "message"), [
    ("SciFact.json", lambda text: text.replace('"hyperret": {', f'"deep": {_deep(100_000)}, "hyperret": {{', 1),
     "nested too deeply"),
    ("model_meta.json", lambda text: text.replace('{', f'{{"deep": {_deep(100_000)}, ', 1), "nested too deeply"),
    ("SciFact.json", lambda text: text.replace('"hyperret": {', f'"big": {"9" * 5000}, "hyperret": {{', 1),
     "an integer of 5000 digits"),
    ("model_meta.json", lambda text: text.replace('{', f'{{"big": {"9" * 5000}, ', 1), "an integer of 5000 digits"),
])
def test_unreadable_result_files_are_a_message(capsys, results, tmp_path, file, damage, message):
    path = minilm_folder(results) / file
    path.write_text(damage(path.read_text()))
    code, _, err = publish(capsys, results, "--leaderboard", tmp_path / "board")
    assert code == 2 and "Traceback" not in err
    assert str(path) in err and message in err
    assert not (tmp_path / "board").exists()


@pytest.mark.parametrize(("key", "value", "message"), [
    ("device", "cpu", "device must be an object, found str"),
    ("packages", ["torch"], "packages must be an object of package versions"),
])
def test_wrong_types_in_the_run_record_are_a_message(capsys, results, tmp_path, key, value, message):
    path = minilm_folder(results) / "SciFact.json"
    body = read_json(path)
    body["hyperret"]["run"][key] = value
    write_json(path, body)
    code, _, err = publish(capsys, results, "--leaderboard", tmp_path / "board")
    assert code == 2 and "Traceback" not in err
    assert f"{path}: provenance run record: {message}" in err


def test_withdraw_through_a_linked_results_folder_deletes_nothing_elsewhere(capsys, results, other_results, tmp_path):
    """``results/<org>__<name>`` a link to a folder elsewhere: --withdraw refuses, naming the
    link, and the folder it points to keeps every file."""
    board = tmp_path / "board"
    assert publish(capsys, results, other_results, "--leaderboard", board)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.move(board / "results" / OTHER[0], elsewhere)
    (board / "results" / OTHER[0]).symlink_to(elsewhere, target_is_directory=True)
    kept = snapshot(elsewhere)
    code, _, err = publish(capsys, results, "--leaderboard", board, "--withdraw", f"{OTHER[1]}@{OTHER[2]}")
    assert code == 2 and "Traceback" not in err
    assert f"the leaderboard's link {board.resolve() / 'results' / OTHER[0]} leads outside" in err
    assert snapshot(elsewhere) == kept and kept


def test_withdraw_through_a_link_inside_the_leaderboard_is_refused(capsys, results, other_results, tmp_path):
    """A link that stays inside the folder is not followed by a delete either."""
    board = tmp_path / "board"
    assert publish(capsys, results, other_results, "--leaderboard", board)[0] == 0
    shutil.move(board / "results" / OTHER[0], board / "moved")
    (board / "results" / OTHER[0]).symlink_to(Path("..") / "moved", target_is_directory=True)
    before = snapshot(board)
    code, _, err = publish(capsys, results, "--leaderboard", board, "--withdraw", f"{OTHER[1]}@{OTHER[2]}")
    assert code == 2 and f"{board.resolve() / 'results' / OTHER[0]} is a link; publish writes and deletes" in err
    assert snapshot(board) == before


def test_publish_never_writes_through_a_link_leading_outside(capsys, results, tmp_path):
    board = tmp_path / "board"
    assert publish(capsys, results, "--leaderboard", board)[0] == 0
    outside = tmp_path / "precious.md"
    outside.write_text("not the leaderboard's\n")
    (board / "README.md").unlink()
    (board / "README.md").symlink_to(outside)
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 2 and f"the leaderboard's link {board.resolve() / 'README.md'} leads outside" in err
    assert outside.read_text() == "not the leaderboard's\n"


def test_publish_replaces_a_link_inside_with_a_file_of_its_own(capsys, results, tmp_path):
    """A README.md linking to another file of the folder: the new README replaces the link;
    the file it pointed to is left as it was."""
    board = tmp_path / "board"
    assert publish(capsys, results, "--leaderboard", board)[0] == 0
    readme = (board / "README.md").read_text()
    (board / "notes.md").write_text("notes\n")
    (board / "README.md").unlink()
    (board / "README.md").symlink_to("notes.md")
    code, _, err = publish(capsys, results, "--leaderboard", board)
    assert code == 0, err
    assert not (board / "README.md").is_symlink() and (board / "README.md").read_text() == readme
    assert (board / "notes.md").read_text() == "notes\n"


def test_publish_into_a_results_folder_that_is_a_link_outside_is_refused(capsys, results, other_results, tmp_path):
    board = tmp_path / "board"
    assert publish(capsys, results, "--leaderboard", board)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (board / "results" / OTHER[0]).symlink_to(elsewhere, target_is_directory=True)
    code, _, err = publish(capsys, other_results, "--leaderboard", board)
    assert code == 2 and "leads outside" in err
    assert not any(elsewhere.iterdir())
