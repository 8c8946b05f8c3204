"""The price table: USD per million tokens, per model.

``--agent-prices`` takes JSON, or the path of a JSON file:

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60}, "*": {"input": 1.0, "output": 3.0}}

``"*"`` prices any model not listed; a model with no price costs 0 (and is logged
once), so a missing entry never blocks writers but shows up in /api/usage as free.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices
        self._warned: set[str] = set()

    @staticmethod
    def parse(spec: str) -> PriceTable:
        spec = spec.strip()
        if not spec:
            return PriceTable({})
        raw = json.loads(spec if spec.startswith("{") else Path(spec).read_text())
        if not isinstance(raw, dict):
            raise ValueError("agent prices must be a JSON object of models")
        prices = {}
        for model, entry in raw.items():
            if not isinstance(entry, dict):
                raise ValueError(f"price of {model!r} must be an object")
            prices[str(model)] = Price(float(entry.get("input", 0)), float(entry.get("output", 0)))
        return PriceTable(prices)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get(model) or self.prices.get("*")
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price for model %r: its usage is recorded at $0", model)
            return 0.0
        return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
