"""JSON as WordPress sends it: PHP's json_encode defaults (compact, `\\/`, `\\uXXXX`); and the
PHP type a decoded JSON value has, as PHP's TypeError messages name it."""

import json


def encode(value: object) -> bytes:
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


def type_name(value: object) -> str:
    """`null`, `bool`, `int`, `float`, `array` (a list or an object) or `string`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list | dict):
        return "array"
    return "string"
