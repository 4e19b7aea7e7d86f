"""The report as one self-contained HTML page: the Markdown the renderers write, turned into HTML without any
library, figures embedded as data URIs (the page opens with no network and no folder beside it), every table
sortable by a click on its header, links to the CSV files the numbers come from.

Only the Markdown the report uses is understood: ATX headings, paragraphs, "- " lists, GitHub tables, images on
their own line, inline code, bold, italics and links. The page's script marks itself for the browser test:
`data-ready` once loaded, `data-broken-images` the number of images that did not decode.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from sharebench.datasets.atomic import atomic_write_text

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
.wide { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; vertical-align: top; }
th { background: #eee; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #f7f7f7; }
code { background: #f0f0f0; padding: 0 0.2em; }
img { max-width: 100%; }
"""

# click a header: sort that table's body by the column (numbers by their leading value, then text), again: reverse
SCRIPT = """
function cellKey(td) {
  const text = td.textContent.trim();
  const m = text.match(/^[+\\u2212-]?\\d+(\\.\\d+)?/);
  return m ? [0, parseFloat(m[0].replace('\\u2212', '-')), text] : [1, 0, text];
}
function sortBy(th) {
  const table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
  const descending = th.getAttribute('aria-sort') === 'ascending';
  for (const other of th.parentNode.children) other.removeAttribute('aria-sort');
  th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
  const rows = Array.from(body.rows);
  rows.sort((r1, r2) => {
    const a = cellKey(r1.cells[col]), b = cellKey(r2.cells[col]);
    const order = a[0] - b[0] || a[1] - b[1] || a[2].localeCompare(b[2]);
    return descending ? -order : order;
  });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('th').forEach(th => th.addEventListener('click', () => sortBy(th)));
window.addEventListener('load', () => {
  const broken = Array.from(document.images).filter(img => !img.complete || img.naturalWidth === 0);
  document.body.dataset.brokenImages = String(broken.length);
  const root = document.documentElement;  // a table wider than the window must not widen the page
  document.body.dataset.pageOverflow = String(root.scrollWidth > root.clientWidth);
  document.body.dataset.ready = '1';
});
"""


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<i>\1</i>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', out)


def _image(alt: str, src: str, folder: Path) -> str:
    """An <img> with the file's bytes inlined; a missing file keeps its path (and shows up as a broken image)."""
    path = folder / src
    if path.is_file():
        mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(path.suffix, "image/png")
        src = f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
    return f'<figure><img src="{html.escape(src)}" alt="{html.escape(alt)}"></figure>'


def _table(lines: list[str]) -> str:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    cells = "\n".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    # a wide table scrolls inside its own box, so that the page keeps its width
    return f"<div class=wide><table><thead><tr>{head}</tr></thead>\n<tbody>\n{cells}\n</tbody></table></div>"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def markdown_to_html(markdown: str, folder: Path) -> str:
    """The body of the page; images are read relative to `folder`."""
    body: list[str] = []
    ids: dict[str, int] = {}  # a heading's id, made unique ("the-paper-s-claims-2") so every anchor works
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            body.append(_table(block))
            continue
        if line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        image = re.fullmatch(r"!\[([^\]]*)\]\(([^)]+)\)", line.strip())
        if line.startswith("#"):
            level = min(6, len(line) - len(line.lstrip("#")))
            title = line.lstrip("# ")
            slug = _slug(title)
            ids[slug] = ids.get(slug, 0) + 1
            anchor = slug if ids[slug] == 1 else f"{slug}-{ids[slug]}"
            body.append(f'<h{level} id="{anchor}">{_inline(title)}</h{level}>')
        elif image:
            body.append(_image(image.group(1), image.group(2), folder))
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(body)


def write_html(path: Path, markdown: str, title: str = "sharebench report") -> Path:
    """Write the page (links in the Markdown, such as the report's data files, stay relative to it)."""
    page = (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>\n"
            f"<style>{STYLE}</style></head>\n<body>\n{markdown_to_html(markdown, path.parent)}\n"
            f"<script>{SCRIPT}</script>\n</body></html>\n")
    return atomic_write_text(path, page)
