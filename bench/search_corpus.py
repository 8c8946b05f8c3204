"""The search benchmarks' shared corpus: novel-like documents from a fixed seed, and a
PostgreSQL cluster that can live in a corpus folder, so bench/search.py (load) and
bench/search_queries.py (per-query classes) measure the same text."""

from __future__ import annotations

import itertools
import math
import os
import random
from pathlib import Path

from pycrdt import Doc, Text

from devtools.postgres import PostgresServer

SYLLABLES = "ka lo mi ra ne tu sa vi da re po li ta mo ne ga shi ru an el or th".split()
SYLLABLES_NAMES = [a + b for a in SYLLABLES for b in SYLLABLES]
ROOTS = ["Aldric", "Brannoc", "Caelith", "Dravena", "Elowen", "Fenwick", "Gisela", "Halvard"]
# Each document's story has its own three characters, from 2,000 names.
NAMES = [f"{root}{suffix}" for suffix in ("", *SYLLABLES_NAMES) for root in ROOTS][:2000]


def vocabulary(rng: random.Random, size: int = 20000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words, key=lambda w: (len(w), w))  # short words first: the common ones


class Corpus:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.cum = list(itertools.accumulate(1 / (r + 1) for r in range(len(self.words))))

    def text(self, target: int) -> str:
        rng, lines, size, part, chapter = self.rng, [], 0, 0, 0
        cast = rng.sample(NAMES, 3)
        while size < target:
            if chapter % 5 == 0:
                part += 1
                lines.append(f"# Part {part}")
            chapter += 1
            lines.append(f"## Chapter {chapter}")
            for _ in range(rng.randint(3, 8)):
                words = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(40, 120))
                words[rng.randrange(len(words))] = rng.choice(cast)
                para = " ".join(words).capitalize() + "."
                lines.append(para)
                size += len(para)
        return "\n".join(lines)

    def document(self) -> tuple[str, str, bytes]:
        size = int(math.exp(self.rng.uniform(math.log(1000), math.log(50000))))
        text = self.text(size)
        doc: Doc = Doc()
        doc.get("text", type=Text).insert(0, text)
        title = " ".join(self.rng.choices(self.words[200:3000], k=3)).title()
        return title, text, doc.get_update()


def queries(corpus: Corpus) -> dict[str, list[str]]:
    w = corpus.words
    return {
        "word": [w[i] for i in (900, 2500, 4000, 7000, 12000)] + NAMES[100:105],
        "and": [f"{w[300]} {w[2000]}", f"{NAMES[3]} {w[1200]}", f"{NAMES[50]} {w[10]}"],
        "prefix": [w[3000][:4], NAMES[444][:6].lower(), w[6000][:4]],
        "phrase": [f'"{NAMES[5]} {w[0]}"', f'"{w[0]} {w[1]}"'],
    }


def postgres_in(work: Path | None) -> PostgresServer:
    """A cluster in ``work`` (kept, to be reused) or in a temp dir."""
    pg = PostgresServer()
    if work is not None:
        os.rmdir(pg.base)  # the temp dir it made: the cluster lives in work instead
        pg.base = work / "pg"
        pg.base.mkdir(parents=True, exist_ok=True)
        os.chmod(pg.base, 0o700)
        pg.datadir, pg.sockdir = pg.base / "data", pg.base / "sock"
    return pg
