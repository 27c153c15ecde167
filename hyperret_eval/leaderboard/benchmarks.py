"""``benchmarks.json``: search speed/quality measurements shown beside the scores.

Format (what a benchmark script writes and ``publish --benchmarks FILE`` copies in)::

    {"search_tradeoff": [
        {"corpus": "SciFact", "method": "exhaustive" | "graph", "settings": "ef=64",
         "queries_per_second": 812.5, "recall_at_10": 0.97, "ndcg_at_10": 0.64}, ...]}

Recall@10 is the overlap with the exhaustive search's top 10 and nDCG@10 grades the
ranking against the exhaustive one (both 1.0 for exhaustive search itself), fractions in
[0, 1]; extra keys in a point are kept (benchmarks/graph_search.py adds
``qrels_ndcg_at_10``, nDCG@10 against the dataset's judgements, where there are some).

``settings`` names the kind of search before its first comma and that kind's parameters
after it (``"ip graph, entry 64, ncandidates 16, max_iter 16"``): the points of one corpus
and kind are one series, whose Pareto front the page draws.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperret_eval.core.errors import UserError
from hyperret_eval.core.jsonfile import read_json

BENCHMARKS_FILE = "benchmarks.json"
SEARCH_METHODS = ("exhaustive", "graph")


def load_benchmarks(path: Path) -> dict[str, Any]:
    """Read and check a benchmarks file; every problem is reported at once."""
    if not Path(path).is_file():
        raise UserError(f"{path}: benchmarks file not found")
    body = read_json(Path(path), "benchmarks file")
    points = body.get("search_tradeoff") if isinstance(body, dict) else None
    if not isinstance(points, list):
        raise UserError(f'{path}: expected {{"search_tradeoff": [...]}}, a list of measured search settings')
    problems = [f"{path}: search_tradeoff[{i}]: {p}" for i, point in enumerate(points) for p in _point_problems(point)]
    if problems:
        raise UserError("\n".join(problems))
    return body


def _point_problems(point: Any) -> list[str]:
    if not isinstance(point, dict):
        return ["not a JSON object"]
    problems = []
    for key in ("corpus", "settings"):
        if not isinstance(point.get(key), str):
            problems.append(f"{key} must be a string")
    if point.get("method") not in SEARCH_METHODS:
        problems.append(f"method is {point.get('method')!r}; expected one of {', '.join(SEARCH_METHODS)}")
    qps = point.get("queries_per_second")
    if not _is_number(qps) or not qps > 0:
        problems.append(f"queries_per_second {qps!r} is not a positive number")
    for key in ("recall_at_10", "ndcg_at_10"):
        value = point.get(key)
        if not _is_number(value) or not 0 <= value <= 1:
            problems.append(f"{key} {value!r} is not a number in [0, 1]")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def render_benchmarks_json(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Series:
    """The measured points of one corpus and kind of search."""

    corpus: str
    kind: str  # ``settings`` up to its first comma: "ip graph", "l2 graph", "all passages"
    method: str
    points: list[dict[str, Any]]  # fastest first
    front: list[dict[str, Any]]  # the Pareto front of ``points``, fastest first

    @property
    def label(self) -> str:
        return f"{self.corpus}, {self.method if self.method == 'exhaustive' else self.kind}"


def tradeoff_series(points: list[dict[str, Any]]) -> list[Series]:
    """``points`` as series, in the order their first points come."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for point in points:
        key = (point["corpus"], point["settings"].split(",")[0].strip(), point["method"])
        grouped.setdefault(key, []).append(point)
    return [Series(corpus, kind, method, _fastest_first(members), pareto_front(members))
            for (corpus, kind, method), members in grouped.items()]


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points no other point beats on both speed and recall@10, fastest first: going
    to slower settings, each is kept only if it finds more than every faster one did."""
    front: list[dict[str, Any]] = []
    for point in _fastest_first(points):
        if not front or point["recall_at_10"] > front[-1]["recall_at_10"]:
            front.append(point)
    return front


def _fastest_first(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(points, key=lambda p: (-p["queries_per_second"], -p["recall_at_10"]))
