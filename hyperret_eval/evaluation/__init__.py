"""One ``hyperret-eval run``: the runner, the result files it writes, and the papers' STS protocol."""
