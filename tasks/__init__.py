"""The task catalogue: declarative TOML definitions, installed as hyperret_eval.task_definitions."""
