"""HTML building blocks of the static site: escaping, links, table cells, definition lists, figures, pages.

Every value taken from an entry goes through :func:`esc` (element text and double-quoted attributes);
generated paths go through :func:`href`. No inline script or event handler is ever written, and the
Content-Security-Policy of :func:`page` forbids them.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from urllib.parse import quote

from neurrator_bench.leaderboard.store import format_score
from neurrator_bench.provenance import origin_badge_text
from neurrator_bench.schemas.result_entry import MetricResult

CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"


def esc(value: object) -> str:
    """HTML-escape any value for element text and double-quoted attributes (``& < > " '``)."""
    return html.escape(str(value), quote=True)


def href(path: str) -> str:
    """A relative URL for a generated path: percent-encoded, then escaped for an attribute."""
    return esc(quote(path))


def safe_stem(text: str) -> str:
    """A file-name stem for any text: readable part plus a short hash so distinct texts never collide."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "x"
    return f"{readable}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"  # noqa: S324 (names, not security)


def page(title: str, body: str, *, root: str) -> str:
    """A complete HTML page; ``root`` is the relative path to the site root (``""`` or ``"../"``).

    Args:
        title: Page title (escaped here).
        body: Trusted HTML of the body, built with :func:`esc`.
        root: Relative path from the page to the site root.

    Returns:
        The page.
    """
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        "<meta name='generator' content='neurrator-bench leaderboard'>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{root}assets/leaderboard.css">\n'
        f"<title>{esc(title)}</title>\n"
        f'<script src="{root}assets/leaderboard.js" defer></script>\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def num_cell(sort_value: float | int | None, text: str, *, title: str | None = None) -> str:
    """A right-aligned cell sorted by ``sort_value`` (empty: sorts last), with an optional tooltip."""
    key = "" if sort_value is None else repr(sort_value)
    tip = "" if not title else f' title="{esc(title)}"'
    return f'<td class="num" data-sort="{esc(key)}"{tip}>{esc(text)}</td>'


def text_cell(text: str, inner_html: str | None = None, *, title: str | None = None, css: str | None = None) -> str:
    """A cell sorted by ``text``; ``inner_html`` (built with :func:`esc`) replaces the escaped text."""
    tip = "" if not title else f' title="{esc(title)}"'
    cls = "" if not css else f' class="{esc(css)}"'
    return f'<td{cls} data-sort="{esc(text)}"{tip}>{esc(text) if inner_html is None else inner_html}</td>'


def metric_cell(metric: MetricResult | None) -> str:
    """``value [ci_low, ci_high]`` of a metric, sorted by value; ``-`` when absent."""
    return num_cell(None if metric is None else metric.value, format_score(metric))


def definition_list(items: Iterable[tuple[str, object]], *, trusted_html: Iterable[tuple[str, str]] = ()) -> str:
    """A definition list; ``items`` values are escaped, ``trusted_html`` values must be built with :func:`esc`."""
    rows = [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items]
    rows += [f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in trusted_html]
    return "<dl class='meta'>" + "".join(rows) + "</dl>"


def figure(src: str, caption: str) -> str:
    """An image with its caption (``src`` is a generated relative path)."""
    return f'<figure><img src="{href(src)}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def origin_badge(origin: str) -> str:
    """A visible badge beside scores on simulated (or unverified) sessions; nothing for real data."""
    text = origin_badge_text(origin)
    if text is None:
        return ""
    return f' <span class="badge simulated" title="data origin: {esc(origin)}">{esc(text)}</span>'
