"""Counting tokens when the provider does not report usage.

tiktoken fetches its encodings over the internet on first use, which a server must
not do at request time (and cannot, offline). So: give ``--agent-tokenizer-file`` a
local ``cl100k_base.tiktoken`` and tokens are counted exactly with tiktoken; without
it they are estimated as one token per four characters (OpenAI's rule of thumb for
English), and usage rows say ``estimated``. No network call either way.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import tiktoken

# cl100k_base's split pattern, as in tiktoken_ext.openai_public.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
# Per-message framing tokens in chat requests (OpenAI's cookbook figure).
_PER_MESSAGE = 4


def load_encoding(path: str) -> tiktoken.Encoding:
    ranks: dict[bytes, int] = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=Path(path).stem,
        pat_str=_CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": len(ranks)},
    )


class TokenCounter:
    def __init__(self, tokenizer_file: str | None) -> None:
        self.encoding = load_encoding(tokenizer_file) if tokenizer_file else None

    @property
    def exact(self) -> bool:
        return self.encoding is not None

    def count(self, text: str) -> int:
        if self.encoding is not None:
            return len(self.encoding.encode_ordinary(text))
        return math.ceil(len(text) / 4)

    def count_messages(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count(m.get("content", "")) + _PER_MESSAGE for m in messages)
