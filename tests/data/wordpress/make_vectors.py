"""Regenerate sanitize-vectors.jsonl from a real PHP 8.2 + WordPress + FluentCart 1.3.25.

Not run by the suite (it needs PHP, WordPress and a database): `oracle.php` loads WordPress
and prints, for each input string, `sanitize_text_field` and FluentCart's `SanitizeText`
rule verdict (app/Http/Rules/SanitizeText.php). Usage:
    python make_vectors.py ORACLE.php > sanitize-vectors.jsonl
The inputs are derandomized (seed 2026), so a rerun against the same versions gives the
same file.
"""

import json
import random
import subprocess
import sys

PIECES = [
    *"<<<>>>\"'!-?/= \t\n\r\x0b\x0c\0%%4aAFgxmlXMLsScriptyleDOCTYPEe&#;()\\é",
    "&amp;", "&lt;", "&apos;", "&#39;", "&#0;", "&#x0;", "&#X41;", "&eacute;", "&bogus;",
    "%41", "%4", "<!--", "-->", "<?", "?>", "<?xml", "<script>", "</script>", "<style>",
    "</STYLE>", "<!DOCTYPE", "<b>", "</b>", "< ", " >", "Île", "日本", "😀", "  ",
]  # fmt: skip


def inputs(count: int, seed: int = 2026) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6 if i % 3 else 16)))
        for i in range(count)
    ]


def main() -> None:
    cases = inputs(4000)
    answer = subprocess.run(
        ["php", sys.argv[1]], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    for text, result in zip(cases, json.loads(answer.stdout), strict=True):
        sanitized, rule = result[0], result[1]
        print(json.dumps({"in": text, "sanitized": sanitized, "rejected": rule is not None}))


if __name__ == "__main__":
    main()
