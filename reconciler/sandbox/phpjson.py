"""JSON as WordPress sends it: PHP's json_encode defaults (compact, `\\/`, `\\uXXXX`)."""

import json


def encode(value: object) -> bytes:
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")
