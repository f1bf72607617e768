"""Turns a standalone SVG document (as matplotlib writes it) into markup to inline in HTML.

Several charts share one page, and matplotlib names glyphs and clip paths with ids that repeat
from chart to chart ("DejaVuSans-30", "p3f1c2a9b0e"), so each chart's ids get a prefix. The XML
prolog, DOCTYPE and metadata go, and the fixed size makes way for the viewBox so the chart
scales with the page.
"""

from __future__ import annotations

import re

_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.IGNORECASE)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'(\b(?:xlink:)?href=")#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")
_ROOT = re.compile(r"<svg\b[^>]*>")
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')


def inline_svg(document: str, prefix: str, label: str, attrs: dict[str, str] | None = None) -> str:
    """The ``<svg>`` element of ``document`` with ids prefixed, ready to place in a page."""
    text = _METADATA.sub("", _PROLOG.sub("", document))
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _HREF.sub(lambda m: f'{m.group(1)}#{prefix}-{m.group(2)}"', text)
    text = _URL.sub(lambda m: f"url(#{prefix}-{m.group(1)})", text)
    root = _ROOT.search(text)
    if root is None:
        raise ValueError("not an SVG document: no <svg> element")
    extra = {"role": "img", "aria-label": label, **(attrs or {})}
    opened = _SIZE.sub("", root.group(0))[:-1].rstrip()
    opened += "".join(f' {k}="{_attr(v)}"' for k, v in extra.items()) + ">"
    return (text[: root.start()] + opened + text[root.end() :]).strip()


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
