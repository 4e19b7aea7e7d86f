"""The HTML report in a real browser (headless Chromium): what a reader sees, with a page whose image is missing as
the control that the check can fail."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sharebench.benchmarks.html_report import markdown_to_html, write_html  # noqa: E402
from tests.browser import read_page, rendered_dom  # noqa: E402

MARKDOWN = """# sharebench report

## Scoreboard

| paper | claims reproduced | not reproduced |
|---|---|---|
| LWS | 2 | 1 |
| CETL | 10 | 3 |

## A paper

Some `code`, **bold**, *a verdict* and [a link](../results/summary.csv).

- one item
- two items

![curve](figures/curve.png)
"""


def _figure(folder):
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    fig.savefig(folder / "figures" / "curve.png")
    plt.close(fig)


def test_markdown_becomes_tables_lists_and_inline_figures(tmp_path):
    _figure(tmp_path)
    body = markdown_to_html(MARKDOWN, tmp_path)
    assert '<h2 id="scoreboard">Scoreboard</h2>' in body and body.count("<tr>") == 3 and "<th>paper</th>" in body
    assert "<code>code</code>" in body and "<b>bold</b>" in body and "<i>a verdict</i>" in body
    assert '<a href="../results/summary.csv">a link</a>' in body and body.count("<li>") == 2
    assert 'src="data:image/png;base64,' in body and "figures/curve.png" not in body  # self-contained
    twice = markdown_to_html("## Claims\n\n## Claims\n", tmp_path)
    assert 'id="claims"' in twice and 'id="claims-2"' in twice  # unique anchors


def test_the_page_in_chromium_shows_the_scoreboard_populated_tables_and_every_image(tmp_path):
    _figure(tmp_path)
    page = read_page(rendered_dom(write_html(tmp_path / "index.html", MARKDOWN)))
    assert page.body.get("data-ready") == "1" and page.body.get("data-broken-images") == "0"
    heading, header, rows = page.tables[0]
    assert heading == "scoreboard" and header[:2] == ["paper", "claims reproduced"]
    assert [r[0] for r in rows] == ["LWS", "CETL"] and all(len(r) == len(header) for r in rows)
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png")


def test_a_missing_figure_is_seen_as_broken(tmp_path):
    page = read_page(rendered_dom(write_html(tmp_path / "index.html", MARKDOWN)))  # no figures/curve.png
    assert page.body.get("data-broken-images") == "1"


def test_a_wide_table_scrolls_in_its_box_and_the_page_keeps_its_width(tmp_path):
    columns = [f"column {i} with a long header" for i in range(30)]
    wide = MARKDOWN + "\n| " + " | ".join(columns) + " |\n|" + "---|" * 30 + "\n|" + " 1.00 |" * 30 + "\n"
    path = write_html(tmp_path / "index.html", wide)
    assert read_page(rendered_dom(path)).body.get("data-page-overflow") == "false"
    path.write_text(path.read_text().replace("<div class=wide>", "<div>"))  # the control: no scrolling box
    assert read_page(rendered_dom(path)).body.get("data-page-overflow") == "true"


def test_a_click_on_a_header_sorts_the_table_by_numbers_then_reverses(tmp_path):
    three_rows = MARKDOWN.replace("| CETL | 10 | 3 |", "| CETL | 10 | 3 |\n| JAE | 9 | 0 |")
    path = write_html(tmp_path / "index.html", three_rows)
    click = "<script>const th = document.querySelectorAll('th')[1]; th.click();</script>"
    path.write_text(path.read_text().replace("</body>", click + "</body>"))
    rows = read_page(rendered_dom(path)).tables[0][2]
    assert [r[0] for r in rows] == ["LWS", "JAE", "CETL"]  # 2 < 9 < 10: numeric, not text order
    twice = path.read_text().replace("th.click();", "th.click(); th.click();")
    path.write_text(twice)
    assert [r[0] for r in read_page(rendered_dom(path)).tables[0][2]] == ["CETL", "JAE", "LWS"]
