"""The package's layering (docs/development.md, "Layout"): no import cycle among its modules, imports
inside functions counted, except the one pair of the Hypencoder model and its checkpoint
format; every module imports only from the floors below its own. Read with ``ast``
(tests/layering.py), nothing imported."""

from __future__ import annotations

import pytest

from tests import layering
from tests.conftest import REPO

ALLOWED_CYCLE = ["hyperret_eval.models.hypencoder.checkpoint", "hyperret_eval.models.hypencoder.modeling"]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return layering.import_graph(REPO / "hyperret_eval")


def test_no_import_cycle_but_the_model_and_its_checkpoint_format(graph):
    assert layering.cycles(graph) == [ALLOWED_CYCLE]


def test_each_floor_imports_only_from_the_floors_below(graph):
    assert layering.floor_violations(graph) == []


def test_every_module_stands_on_a_floor(graph):
    for module in graph:
        layering.floor_of(module)  # raises for a package the floors do not name


def test_the_checks_see_what_they_check():
    """A cycle through a function-local import, and an import of a higher floor, are found."""
    graph = {"hyperret_eval.core.a": {"hyperret_eval.evaluation.b"}, "hyperret_eval.evaluation.b": {"hyperret_eval.core.a"}}
    assert layering.cycles(graph) == [["hyperret_eval.core.a", "hyperret_eval.evaluation.b"]]
    assert layering.floor_violations(graph) == [
        "hyperret_eval.core.a (core) imports hyperret_eval.evaluation.b (evaluation)"]


def test_function_local_imports_count(tmp_path):
    package = tmp_path / "hyperret_eval"
    (package / "core").mkdir(parents=True)
    for path in (package / "__init__.py", package / "core" / "__init__.py", package / "cli.py"):
        path.write_text("")
    (package / "core" / "a.py").write_text("def f():\n    from hyperret_eval import cli\n")
    assert layering.import_graph(package)["hyperret_eval.core.a"] == {"hyperret_eval.cli"}
