"""Agent parameters: checked against the agent's schema and normalized.

Normalized parameters (defaults filled in, unknown keys refused) go into the cache
key, so ``{}`` and ``{"max_issues": 1000}`` share an entry when 1000 is the default.
Only the subset of JSON Schema agents need: an object of scalar properties with
``type``, ``default``, ``enum``, ``minimum``, ``maximum`` and ``maxLength``.
"""

from __future__ import annotations

from typing import Any

from draftroom.agents.base import AgentError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def normalize(schema: dict[str, Any], given: Any) -> dict[str, Any]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise AgentError("params must be an object", code="invalid_params")
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    unknown = sorted(set(given) - set(properties))
    if unknown:
        raise AgentError(f"unknown params: {', '.join(unknown)}", code="invalid_params")
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        if name not in given:
            if "default" in spec:
                out[name] = spec["default"]
            elif name in schema.get("required", ()):
                raise AgentError(f"param {name!r} is required", code="invalid_params")
            continue
        out[name] = _check(name, spec, given[name])
    return out


def _check(name: str, spec: dict[str, Any], given: Any) -> Any:
    kind = spec.get("type", "string")
    allowed = _TYPES[kind]
    # bool is an int in Python; a JSON true is not a number.
    if not isinstance(given, allowed) or (kind != "boolean" and isinstance(given, bool)):
        raise AgentError(f"param {name!r} must be a {kind}", code="invalid_params")
    value: Any = given
    if "enum" in spec and value not in spec["enum"]:
        raise AgentError(f"param {name!r} must be one of {spec['enum']}", code="invalid_params")
    if "minimum" in spec and value < spec["minimum"]:
        raise AgentError(f"param {name!r} must be >= {spec['minimum']}", code="invalid_params")
    if "maximum" in spec and value > spec["maximum"]:
        raise AgentError(f"param {name!r} must be <= {spec['maximum']}", code="invalid_params")
    if "maxLength" in spec and len(value) > spec["maxLength"]:
        raise AgentError(
            f"param {name!r} is longer than {spec['maxLength']}", code="invalid_params"
        )
    if kind == "number":
        return float(value)
    return value
