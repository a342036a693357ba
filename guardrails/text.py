"""Pulling the human-readable text and the links out of channel content."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import nh3

__all__ = ["all_text", "domain_of", "plain", "urls_in"]

_URL = re.compile(r"""(?i)\b((?:https?://|www\.)[^\s<>"'()]+)""")
_HREF = re.compile(r"""(?i)\b(?:href|src)\s*=\s*["']?([^"'\s>]+)""")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def all_text(content: dict[str, Any], *, skip: tuple[str, ...] = ("headers",)) -> str:
    """Every string in the content, newline-joined (headers are checked on their own)."""
    return "\n".join(s for k, v in content.items() if k not in skip for s in _strings(v))


def plain(html_or_text: str) -> str:
    """Text with tags removed, for phrase matching."""
    return nh3.clean(html_or_text, tags=set()) if "<" in html_or_text else html_or_text


def urls_in(text: str) -> list[str]:
    found = [m.group(1).rstrip(".,;:!?") for m in _URL.finditer(text)]
    found += [m.group(1) for m in _HREF.finditer(text)]
    return list(dict.fromkeys(found))


def domain_of(url: str) -> str:
    if url.lower().startswith("www."):
        url = "http://" + url
    try:
        return (urlparse(url).hostname or "").lower().rstrip(".")
    except ValueError:  # malformed (e.g. "http://[oops"): no trustworthy host
        return ""
