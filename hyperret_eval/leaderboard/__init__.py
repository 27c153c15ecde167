"""The published leaderboard: validation of result files, the merged leaderboard.json,
and the README.md and index.html generated from it (see :mod:`.publish`)."""

from hyperret_eval.leaderboard.publish import PublishSummary, publish

__all__ = ["PublishSummary", "publish"]
