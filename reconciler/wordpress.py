"""WordPress text functions as FluentCart applies them, reimplemented from WordPress 6.8 and
PHP 8.2.

The server rejects some values (422) and silently cleans others; a plan that does not clean
values the same way shows changes that never converge. Sources: wp-includes/formatting.php
(`_sanitize_text_fields`, `wp_pre_kses_less_than`, `esc_html`, `wp_strip_all_tags`,
`is_email`), wp-includes/kses.php (`wp_kses_normalize_entities`), PHP's `strip_tags`
(ext/standard/string.c, `php_strip_tags_ex`: a state machine, not a regular expression) and
FluentCart's `SanitizeText` rule (app/Http/Rules/SanitizeText.php). Checked against real
PHP 8.2 running those functions: tests/data/wordpress/sanitize-vectors.jsonl.
"""

import re
from html.entities import name2codepoint

# PHP's trim() default character list; Python's str.strip() removes more (all Unicode space).
PHP_TRIM_CHARS = " \t\n\r\0\x0b"
_C_SPACE = " \t\n\x0b\x0c\r"  # C isspace() in the C locale, as strip_tags tests it
_HTML401 = frozenset(name2codepoint)  # the names htmlspecialchars(ENT_HTML401) knows
_KSES_ENTITIES = _HTML401 | {"apos"}  # kses.php $allowedentitynames

# PCRE without flags: `$` is the end or before a final newline, like Python's `$`.
_LESS_THAN_RUN = re.compile(r"<[^>]*?((?=<)|>|$)")
# A byte regex in PHP: case-insensitive on ASCII letters only.
_SCRIPT_STYLE = re.compile(r"<(script|style)[^>]*?>.*?</\1>", re.DOTALL | re.IGNORECASE | re.ASCII)
_WHITESPACE_RUN = re.compile(r"[\r\n\t ]+")
_PERCENT_OCTET = re.compile(r"%[a-fA-F0-9]{2}")
_SPACE_RUN = re.compile(r" +")
_EMAIL_LOCAL = re.compile(r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]+")
_EMAIL_LABEL = re.compile(r"[a-z0-9-]+", re.IGNORECASE | re.ASCII)
_NAMED = re.compile(r"&amp;([A-Za-z]{2,8}[0-9]{0,2});")
_DECIMAL = re.compile(r"&amp;#(0*[0-9]{1,7});")
_HEX = re.compile(r"&amp;#[Xx](0*[0-9A-Fa-f]{1,6});")
_REFERENCE = re.compile(r"&(?:#[0-9]+;|#[xX][0-9a-fA-F]+;|([A-Za-z0-9]+);)")
_SPECIAL = {"<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;"}


def php_trim(value: str, chars: str = PHP_TRIM_CHARS) -> str:
    return value.strip(chars)


def _valid_code_point(number: int) -> bool:  # kses.php valid_unicode()
    return (
        number in (0x9, 0xA, 0xD)
        or 0x20 <= number <= 0xD7FF
        or 0xE000 <= number <= 0xFFFD
        or 0x10000 <= number <= 0x10FFFF
    )


def _normalize_entities(text: str) -> str:
    """wp_kses_normalize_entities($text, 'html')."""

    def decimal(match: re.Match[str]) -> str:
        digits = match.group(1)
        if digits == "0":  # PHP's empty("0"): the entity is dropped
            return ""
        if not _valid_code_point(int(digits)):
            return f"&amp;#{digits};"
        return "&#" + digits.lstrip("0").rjust(3, "0") + ";"

    def hexadecimal(match: re.Match[str]) -> str:
        digits = match.group(1)
        if digits == "0":
            return ""
        if not _valid_code_point(int(digits, 16)):
            return f"&amp;#x{digits};"
        return "&#x" + digits.lstrip("0") + ";"

    text = text.replace("&", "&amp;")
    text = _NAMED.sub(
        lambda m: f"&{m.group(1)};" if m.group(1) in _KSES_ENTITIES else m.group(0), text
    )
    text = _DECIMAL.sub(decimal, text)
    return _HEX.sub(hexadecimal, text)


def _html_special_chars(text: str) -> str:
    """htmlspecialchars($text, ENT_QUOTES, 'UTF-8', double_encode: false)."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char != "&":
            out.append(_SPECIAL.get(char, char))
            continue
        match = _REFERENCE.match(text, index)
        known = False
        if match is not None:
            if match.group(1) is not None:
                known = match.group(1) in _HTML401
            else:
                body = match.group(0)[2:-1]
                number = int(body[1:], 16) if body[:1] in "xX" else int(body)
                known = number <= 0x10FFFF
        out.append("&" if known else "&amp;")
    return "".join(out)


def _esc_html(text: str) -> str:
    if not text or not re.search(r"[&<>\"']", text):
        return text
    return _html_special_chars(_normalize_entities(text))


def _pre_kses_less_than(text: str) -> str:
    """A `<` with no `>` before the next `<` or the end is escaped; the rest is kept."""

    def escape_unclosed(match: re.Match[str]) -> str:
        found = match.group(0)
        return found if ">" in found else _esc_html(found)

    return _LESS_THAN_RUN.sub(escape_unclosed, text)


def strip_tags(text: str) -> str:
    """PHP's strip_tags($text) with no allowed tags: its state machine, state by state.

    0 is text, 1 a tag, 2 `<?` (processing instruction), 3 `<!`, 4 a `<!--` comment. A `<`
    followed by white space is text; a `>` inside quotes does not end a tag; a tag left open
    at the end removes the rest of the text; NUL is dropped.
    """
    out: list[str] = []
    size = len(text)
    state = depth = parens = 0
    quote = last = ""
    is_xml = False
    for pos, char in enumerate(text):
        following = text[pos + 1] if pos + 1 < size else "\0"
        previous = text[pos - 1] if pos else ""
        if state == 0:
            if char == "<":
                if quote:
                    pass
                elif following in _C_SPACE:
                    out.append(char)
                else:
                    last, state = "<", 1
            elif char == ">":
                if depth:
                    depth -= 1
                elif not quote:
                    out.append(char)
            elif char != "\0":
                out.append(char)
        elif state == 1:
            if char == "<":
                if not quote and following not in _C_SPACE:
                    depth += 1
            elif char == ">":
                if depth:
                    depth -= 1
                elif not quote:
                    last = ">"
                    if not (is_xml and previous == "-"):
                        quote, state, is_xml = "", 0, False
            elif char in "\"'":
                if pos and (not quote or char == quote):
                    quote = "" if quote else char
            elif char == "!" and previous == "<":
                state, last = 3, char
            elif char == "?" and previous == "<":
                parens, state = 0, 2
        elif state == 2:
            if char == "(":
                if last not in "\"'" or not last:
                    last, parens = "(", parens + 1
            elif char == ")":
                if last not in "\"'" or not last:
                    last, parens = ")", parens - 1
            elif char == ">":
                if depth:
                    depth -= 1
                elif not quote and not parens and last != '"' and previous == "?":
                    quote, state = "", 0
            elif char in "\"'":
                if pos and previous != "\\":
                    if last == char:
                        last = ""
                    elif last != "\\":
                        last = char
                    if not quote or char == quote:
                        quote = "" if quote else char
            elif (
                char in "lL"
                and pos > 4
                and text[pos - 1] in "mM"
                and text[pos - 2] in "xX"
                and text[pos - 3] == "?"
                and text[pos - 4] == "<"
            ):
                state, is_xml = 1, True
        elif state == 3:
            if char == ">":
                if depth:
                    depth -= 1
                elif not quote:
                    quote, state = "", 0
            elif char in "\"'":
                if pos and previous != "\\" and (not quote or char == quote):
                    quote = "" if quote else char
            elif char == "-":
                if pos >= 2 and previous == "-" and text[pos - 2] == "!":
                    state = 4
            elif (
                char in "Ee"
                and pos > 6
                and all(a in b for a, b in zip(text[pos - 6 : pos], _DOCTYP, strict=True))
            ):
                state = 1
        elif char == ">" and not quote and pos >= 2 and previous == "-" and text[pos - 2] == "-":
            quote, state = "", 0
    return "".join(out)


_DOCTYP = ("dD", "oO", "cC", "tT", "yY", "pP")


def _strip_all_tags(text: str) -> str:
    return php_trim(strip_tags(_SCRIPT_STYLE.sub("", text)))


def sanitize_text_field(value: str) -> str:
    """WordPress `sanitize_text_field`: what the server stores for a cleaned text field.

    (wp_check_invalid_utf8 is left out: every string a JSON body carries is valid UTF-8.)
    """
    filtered = value
    if "<" in filtered:
        filtered = _pre_kses_less_than(filtered)
        filtered = _strip_all_tags(filtered)
        filtered = filtered.replace("<\n", "&lt;\n")
    filtered = _WHITESPACE_RUN.sub(" ", filtered)
    filtered = php_trim(filtered)
    found = False
    while match := _PERCENT_OCTET.search(filtered):
        filtered = filtered.replace(match.group(0), "")
        found = True
    if found:
        filtered = php_trim(_SPACE_RUN.sub(" ", filtered))
    return filtered


def sanitize_text_problem(value: str) -> str | None:
    """Why FluentCart's `sanitizeText` rule would reject `value` (422), or None if it passes.

    The rule trims the value, cleans it with `sanitize_text_field`, and rejects it when the
    cleaned text differs from the trimmed one. The reasons below say which part differs.
    """
    trimmed = php_trim(value)
    if sanitize_text_field(trimmed) == trimmed:
        return None
    if "\t" in trimmed:
        return "contains a tab"
    if "\n" in trimmed or "\r" in trimmed:
        return "contains a line break"
    if "  " in trimmed:
        return "contains two or more spaces in a row"
    match = _PERCENT_OCTET.search(trimmed)
    if match:
        return f"contains the percent-encoded sequence {match.group(0)!r}"
    if "<" in trimmed:
        return (
            "contains HTML: WordPress accepts a '<' only when a space follows it and a '>' comes"
            " after it before the next '<'"
        )
    return "contains text that WordPress would clean"


def is_email(email: str) -> bool:
    """WordPress `is_email` (without its filters)."""
    if len(email.encode("utf-8")) < 6:
        return False
    if email.find("@", 1) == -1:
        return False
    local, domain = email.split("@", 1)
    if not _EMAIL_LOCAL.fullmatch(local):
        return False
    if ".." in domain:
        return False
    if php_trim(domain, PHP_TRIM_CHARS + ".") != domain:
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    for label in labels:
        if php_trim(label, PHP_TRIM_CHARS + "-") != label:
            return False
        if not _EMAIL_LABEL.fullmatch(label):
            return False
    return True


def split_full_name(full_name: str) -> tuple[str, str]:
    """FluentCart's full-name split (AddressHelper.php:289-306): at the last space, each part
    trimmed again."""
    parts = php_trim(full_name).split(" ")
    if len(parts) == 1:
        return php_trim(parts[0]), ""
    return php_trim(" ".join(parts[:-1])), php_trim(parts[-1])


def joined_full_name(first_name: str, last_name: str) -> str:
    """The `full_name` the server computes: trim(first_name + " " + last_name)."""
    return php_trim(f"{first_name} {last_name}")
