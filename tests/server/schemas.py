"""JSON schemas with a question each, for the structured-output tests: nested objects, arrays with
min/max items, enums, numbers with ranges, required and optional fields, additionalProperties
false, strings with patterns, unions, constants, top-level arrays and scalars. Strings and arrays
are bounded so that small models finish well inside the token limit."""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "minLength": 1, "maxLength": 20}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required,
            "additionalProperties": False}


SCHEMAS: list[tuple[str, dict[str, Any]]] = [
    ("Describe a person called Ada, aged 36.", _object({"name": NAME, "age": {"type": "integer", "minimum": 0, "maximum": 120}})),
    ("Is water wet?", _object({"answer": {"type": "boolean"}})),
    ("What colour is the sky?", _object({"color": {"enum": ["red", "green", "blue"]}})),
    ("What is a pleasant temperature in Celsius?", _object({"celsius": {"type": "number", "minimum": -50, "maximum": 60}})),
    ("Name two or three fruits.", _object({"fruits": {"type": "array", "items": NAME, "minItems": 2, "maxItems": 3}})),
    ("Give an address in Paris.", _object({"address": _object({"city": NAME, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}})})),
    ("Give a book title.", _object({"title": NAME, "subtitle": NAME}, required=["title"])),
    ("List two people with their ages.", _object({"people": {"type": "array", "maxItems": 2, "items": _object(
        {"name": NAME, "age": {"type": "integer", "minimum": 0, "maximum": 120}})}})),
    ("How many legs does a spider have?", _object({"legs": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100}})),
    ("Make up a product code.", _object({"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}})),
    ("Name a tool.", _object({"version": {"const": 1}, "name": NAME})),
    ("Does Bob have a nickname?", _object({"nickname": {"type": ["string", "null"], "maxLength": 12}})),
    ("Give a value.", _object({"value": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 10}]}})),
    ("List up to four small prime numbers.", {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 100},
                                              "minItems": 1, "maxItems": 4}),
    ("Is the Earth round? Answer yes or no.", {"enum": ["yes", "no"]}),
    ("Pick a number from 1 to 10.", {"type": "integer", "minimum": 1, "maximum": 10}),
    ("When did the Apollo 11 landing happen?", _object({"date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}})),
    ("Give a 2 by 2 matrix of small integers.", _object({"matrix": {"type": "array", "minItems": 2, "maxItems": 2, "items": {
        "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer", "minimum": -9, "maximum": 9}}}})),
    ("Describe a city.", _object({"name": NAME, "country": NAME, "population": {"type": "integer", "minimum": 0},
                                  "capital": {"type": "boolean"}, "rating": {"type": "number", "minimum": 0, "maximum": 5}})),
    ("Give a contact email for Ada.", _object({"email": {"type": "string", "pattern": "^[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}$"}})),
    ("Rate the weather today.", _object({"weather": {"enum": ["sunny", "cloudy", "rainy"]},
                                         "score": {"type": "integer", "minimum": 1, "maximum": 5}})),
]
