"""The models and how they train: HiCL (``hicl/``) and Hypencoder (``hypencoder/``), the
backbones they start from, safe loading of model folders, and the one resumable training
loop (``training.py``). Imports nothing above this floor (data, core)."""
