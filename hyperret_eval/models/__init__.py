"""Models: the registry of names the harness understands, and (later) HiCL and Hypencoder."""
