"""JSON Schema (OpenAI tool parameters, `response_format` schemas) → Gemini's `Schema` object.

Gemini's `Schema` is an OpenAPI 3.0 subset and rejects keys it does not know. The translation:

- kept: `type` (upper-cased: STRING, OBJECT…), `title`, `description`, `nullable`, string `enum`,
  `properties`, `required`, `items`, `anyOf`, `minItems`/`maxItems`, `minProperties`/
  `maxProperties`, `minLength`/`maxLength`, `minimum`/`maximum`, `pattern`, `default`, `example`,
  `propertyOrdering`, and `format` when Gemini knows it (enum, date-time, int32, int64, float,
  double);
- rewritten: `type: [X, "null"]` → `type: X, nullable: true`; a `null` branch of `anyOf`/`oneOf`
  → `nullable: true`; `oneOf` → `anyOf` (Gemini has no exclusive union; the model still picks
  one); a string `const` → a one-value `enum`; `null` in an `enum` → `nullable: true`; local
  `$ref`s into `$defs`/`definitions` are inlined; a one-element `allOf` is merged into its parent;
- dropped (Gemini rejects them, and they only narrow what the model may produce, which the client
  validates anyway): `$schema`, `$id`, `$comment`, `$defs`, `definitions`, `additionalProperties`,
  `unevaluatedProperties`, `patternProperties`, `propertyNames`, `examples`, `exclusiveMinimum`,
  `exclusiveMaximum`, `multipleOf`, `uniqueItems`, `readOnly`, `writeOnly`, `deprecated`,
  `contentMediaType`, `contentEncoding`, `strict`, unknown `format`s, and any other key;
- raise `UnsupportedFeature`: recursive or non-local `$ref`, multi-element `allOf`, `not`,
  `if`/`then`/`else`, tuple `items`, non-string `enum`/`const` values (Gemini enums are strings;
  converting would change the argument types the client receives).
"""

from __future__ import annotations

from typing import Any

from seawall._types import JSONDict
from seawall.errors import InvalidRequest, UnsupportedFeature

_COPY = (
    "title", "description", "nullable", "required", "minItems", "maxItems", "minProperties",
    "maxProperties", "minLength", "maxLength", "minimum", "maximum", "pattern", "default",
    "example", "propertyOrdering",
)  # fmt: skip
_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_REJECT = ("not", "if", "then", "else")


def gemini_schema(schema: JSONDict, *, param: str) -> JSONDict:
    """Translate one JSON Schema into Gemini's `Schema` (see the module docstring for the rules)."""
    if not isinstance(schema, dict):
        raise InvalidRequest(f"`{param}` must be a JSON Schema object", param=param)
    defs: JSONDict = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _convert(schema, defs, param, ())


def _convert(node: Any, defs: JSONDict, param: str, stack: tuple[str, ...]) -> JSONDict:
    if not isinstance(node, dict):
        if node is True:
            return {}
        raise InvalidRequest(f"`{param}` must be a JSON Schema object", param=param)
    for key in _REJECT:
        if key in node:
            raise UnsupportedFeature(f"Gemini schemas do not support `{key}`", param=f"{param}.{key}")
    if "$ref" in node:
        return _ref(node, defs, param, stack)
    if "allOf" in node:
        parts = node["allOf"]
        if not isinstance(parts, list) or len(parts) != 1:
            raise UnsupportedFeature("Gemini schemas do not support `allOf`", param=f"{param}.allOf")
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return {**_convert(parts[0], defs, f"{param}.allOf[0]", stack), **_convert(rest, defs, param, stack)}
    out: JSONDict = {}
    _type(node.get("type"), out, param)
    for key in ("anyOf", "oneOf"):
        if key in node:
            _union(node[key], out, defs, f"{param}.{key}", stack)
    if "const" in node:
        out["enum"] = _enum([node["const"]], f"{param}.const")
        out.setdefault("type", "STRING")
    if "enum" in node:
        values = node["enum"]
        if isinstance(values, list) and None in values:
            out["nullable"] = True
            values = [v for v in values if v is not None]
        out["enum"] = _enum(values, f"{param}.enum")
    if isinstance(node.get("properties"), dict):
        out["properties"] = {
            name: _convert(sub, defs, f"{param}.properties.{name}", stack)
            for name, sub in node["properties"].items()
        }
    if "items" in node:
        if isinstance(node["items"], list):
            raise UnsupportedFeature("Gemini schemas do not support tuple `items`", param=f"{param}.items")
        out["items"] = _convert(node["items"], defs, f"{param}.items", stack)
    for key in _COPY:
        if key in node and key not in out:
            out[key] = node[key]
    if node.get("format") in _FORMATS:
        out["format"] = node["format"]
    return out


def _ref(node: JSONDict, defs: JSONDict, param: str, stack: tuple[str, ...]) -> JSONDict:
    ref = node["$ref"]
    name = None
    if isinstance(ref, str):
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                name = ref[len(prefix) :]
    if name is None or name not in defs:
        raise UnsupportedFeature(f"cannot resolve schema reference {ref!r}", param=f"{param}.$ref")
    if name in stack:
        raise UnsupportedFeature(f"Gemini schemas cannot be recursive ({name!r})", param=f"{param}.$ref")
    target = _convert(defs[name], defs, param, (*stack, name))
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return {**target, **_convert(siblings, defs, param, stack)} if siblings else target


def _type(value: Any, out: JSONDict, param: str) -> None:
    if value is None:
        return
    names = value if isinstance(value, list) else [value]
    if not all(isinstance(n, str) for n in names):
        raise InvalidRequest("schema `type` must be a string or a list of strings", param=f"{param}.type")
    real = [n for n in names if n != "null"]
    if not real:
        out["type"] = "NULL"
        return
    if len(real) < len(names):
        out["nullable"] = True
    if len(real) == 1:
        out["type"] = real[0].upper()
    else:
        out["anyOf"] = [{"type": n.upper()} for n in real]


def _union(variants: Any, out: JSONDict, defs: JSONDict, param: str, stack: tuple[str, ...]) -> None:
    if not isinstance(variants, list):
        raise InvalidRequest("schema unions must be arrays", param=param)
    converted = [_convert(v, defs, f"{param}[{i}]", stack) for i, v in enumerate(variants)]
    real = [v for v in converted if v.get("type") != "NULL"]
    if len(real) < len(converted):
        out["nullable"] = True
    if len(real) == 1:
        for key, value in real[0].items():
            out.setdefault(key, value)
    elif real:
        out["anyOf"] = real


def _enum(values: Any, param: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UnsupportedFeature("Gemini schema enums must be strings", param=param)
    return list(values)
