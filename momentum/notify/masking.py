"""Secret masking for log lines, alerts and error messages: standard library only.

    secret_variants(secrets) -> the forms to look for     mask_secrets(text, variants) -> text

Kept apart from alerts.py so that logging_config (imported by every command, `--help` included)
loads no configuration model or domain type to mask a log line.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
MIN_SECRET_CHARS = 6  # shorter "secrets" would mask ordinary words, and hide nothing

_SECRET_PATTERNS = (
    re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?Token\s+)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(hooks\.slack\.com/services/)[^\s'\"<>)]+", re.IGNORECASE),
)
# Each pattern above starts with one of these words: a text without them needs no regex pass.
_PATTERN_WORDS = re.compile(r"authorization|hooks\.slack\.com", re.IGNORECASE)


def secret_variants(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every form a secret takes in a message: raw, stripped, repr-escaped, URL-encoded,
    lower- and upper-cased, and for a URL its path (HTTP errors quote it without the host)."""
    found: set[str] = set()
    for secret in secrets:
        if not secret or len(secret.strip()) < MIN_SECRET_CHARS:
            continue
        forms = {secret, secret.strip(), repr(secret)[1:-1], ascii(secret)[1:-1],
                 quote(secret, safe=""), quote_plus(secret), quote(secret, safe="/:")}
        parts = urlsplit(secret.strip())
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.scheme and parts.netloc and len(tail.strip("/")) >= MIN_SECRET_CHARS:
            forms.add(tail)
        forms |= {f.lower() for f in forms} | {f.upper() for f in forms}
        found |= {f for f in forms if len(f.strip()) >= MIN_SECRET_CHARS}
    return tuple(sorted(found, key=len, reverse=True))  # longest first: no partial leftovers


def mask_secrets(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret, `Authorization: Token x` and Slack webhook path in `text` by ***.

    `secrets` is what secret_variants() returned, longest first.
    """
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if _PATTERN_WORDS.search(text) is None:
        return text
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
