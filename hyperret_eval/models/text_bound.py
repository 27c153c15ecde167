"""Texts cut to what a model can read, before its tokenizer sees them.

A tokenizer works through the whole text before it truncates: one 50 MB corpus line took
6.5 GB and minutes, then a Rust abort. A model reads at most ``max_tokens`` tokens, and a
token covers at most about 100 characters of a text (WordPiece turns a longer word into
one unknown token); so cutting a text at ``max_tokens * CHARS_PER_TOKEN`` characters
changes nothing a model sees for any text that is not mostly whitespace, and bounds the
tokenizer's work.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 100


def clip_text(text: str, max_tokens: int | None) -> str:
    """``text`` cut to the characters ``max_tokens`` tokens can cover (whole when there is no limit)."""
    return text if max_tokens is None else text[: max_tokens * CHARS_PER_TOKEN]
