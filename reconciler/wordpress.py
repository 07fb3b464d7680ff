"""WordPress text functions as FluentCart applies them, reimplemented from WordPress 6.8.

The server rejects some values (422) and silently cleans others; a plan that does not clean
values the same way shows changes that never converge. Sources: wp-includes/formatting.php
(`_sanitize_text_fields`, `wp_pre_kses_less_than`, `wp_strip_all_tags`, `is_email`) and
FluentCart's `SanitizeText` rule (API.md section 10.4).
"""

import re

# PHP's trim() default character list; Python's str.strip() removes more (all Unicode space).
PHP_TRIM_CHARS = " \t\n\r\0\x0b"

_LESS_THAN_RUN = re.compile(r"<[^>]*?((?=<)|>|$)", re.DOTALL)
_SCRIPT_STYLE = re.compile(r"<(script|style)[^>]*?>.*?</\1>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>?", re.DOTALL)
_WHITESPACE_RUN = re.compile(r"[\r\n\t ]+")
_PERCENT_OCTET = re.compile(r"%[a-f0-9]{2}", re.IGNORECASE | re.ASCII)
_SPACE_RUN = re.compile(r" +")
_EMAIL_LOCAL = re.compile(r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]+")
_EMAIL_LABEL = re.compile(r"[a-z0-9-]+", re.IGNORECASE | re.ASCII)
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);", re.IGNORECASE | re.ASCII)


def php_trim(value: str, chars: str = PHP_TRIM_CHARS) -> str:
    return value.strip(chars)


def _esc_html(text: str) -> str:
    """esc_html(): escape &, <, >, quotes, but leave existing entities alone."""
    out: list[str] = []
    pos = 0
    for match in _ENTITY.finditer(text):
        out.append(_escape_plain(text[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
    )


def _pre_kses_less_than(text: str) -> str:
    def escape_unclosed(match: re.Match[str]) -> str:
        found = match.group(0)
        return found if ">" in found else _esc_html(found)

    return _LESS_THAN_RUN.sub(escape_unclosed, text)


def _strip_all_tags(text: str) -> str:
    text = _SCRIPT_STYLE.sub("", text)
    return php_trim(_TAG.sub("", text))


def sanitize_text_field(value: str) -> str:
    """WordPress `sanitize_text_field`: what the server stores for a cleaned text field."""
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
    cleaned text differs from the trimmed one.
    """
    trimmed = php_trim(value)
    if sanitize_text_field(trimmed) == trimmed:
        return None
    if "<" in trimmed:
        return "contains HTML or a '<' character"
    if "\t" in trimmed:
        return "contains a tab"
    if "\n" in trimmed or "\r" in trimmed:
        return "contains a line break"
    if "  " in trimmed:
        return "contains two or more spaces in a row"
    match = _PERCENT_OCTET.search(trimmed)
    if match:
        return f"contains the percent-encoded sequence {match.group(0)!r}"
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
    """FluentCart's full-name split: the last word is the last name (AddressHelper)."""
    parts = php_trim(full_name).split(" ")
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def joined_full_name(first_name: str, last_name: str) -> str:
    """The `full_name` the server computes: trim(first_name + " " + last_name)."""
    return php_trim(f"{first_name} {last_name}")
