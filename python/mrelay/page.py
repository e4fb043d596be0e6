"""Report pages: a list of sections rendered as Markdown and HTML side by side.

Every page the package writes (``report``, ``reproduce``) is built from ``Section`` objects by
the code that knows the data; this module only turns them into ``index.md`` and
``index.html``.

    sections = [page.Section("Run", paragraphs=["..."], table=[["cell", "pps"], ["a", "1"]])]
    page.write_report(Path("/tmp/report"), "mrelay report", sections)   # index.md, index.html
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence


@dataclass
class Section:
    """One part of a report: a heading, paragraphs, optional table and optional image."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: Optional[list[list[str]]] = None  # first row is the header
    image: Optional[str] = None  # file name relative to the report directory
    preformatted: Optional[str] = None


def _markdown_table(table: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(table[0]) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(table[0]))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return lines


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.preformatted:
            lines += ["```", section.preformatted.rstrip("\n"), "```", ""]
        if section.table:
            lines += _markdown_table(section.table) + [""]
        if section.image:
            lines += [f"![{section.title}]({section.image})", ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    """Markdown's `code` spans become <code>; everything else is escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(title: str, sections: Sequence[Section]) -> str:
    out = ["<!doctype html>", "<html><head><meta charset='utf-8'>",
           f"<title>{html.escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
           "text-align:right}td:first-child,th:first-child{text-align:left}"
           "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}img{max-width:100%}</style>",
           "</head><body>", f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        out += [f"<p>{_inline_html(p)}</p>" for p in section.paragraphs]
        if section.preformatted:
            out.append(f"<pre>{html.escape(section.preformatted)}</pre>")
        if section.table:
            out.append("<table><tr>" + "".join(f"<th>{_inline_html(c)}</th>"
                                               for c in section.table[0]) + "</tr>")
            for row in section.table[1:]:
                out.append("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        if section.image:
            out.append(f"<p><img src='{html.escape(section.image)}' "
                       f"alt='{html.escape(section.title)}'></p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(out_dir: Path, title: str, sections: Sequence[Section]) -> Path:
    """Writes out_dir/index.md and out_dir/index.html; returns the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.html").write_text(render_html(title, sections), encoding="utf-8")
    index = out_dir / "index.md"
    index.write_text(render_markdown(title, sections), encoding="utf-8")
    return index
