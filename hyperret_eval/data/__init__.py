"""Benchmark data: readers for the on-disk layouts, and downloads when online.

Nothing in here knows about MTEB, BEIR's library or the CLI.
"""
