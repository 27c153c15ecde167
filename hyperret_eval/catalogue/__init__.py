"""What the names a user types stand for: tasks (``tasks/*.toml`` and ``--task-file``),
what ``--tasks`` selects, models and recipes, and the checkpoint each recipe trains.
Nothing here imports mteb."""
