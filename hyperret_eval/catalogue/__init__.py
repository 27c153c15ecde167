"""What the names a user types stand for: tasks (``tasks/*.toml``), models and recipes,
and the checkpoint each recipe trains. Nothing here imports mteb."""
