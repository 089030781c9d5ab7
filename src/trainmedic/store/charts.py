"""Inline SVG charts and the HTML page of the reliability report: no plotting library, one file out."""

from __future__ import annotations

import html
from typing import Any

WIDTH = 640
BAR_H = 18
COLOR = "#3b6ea5"


def bar_chart(title: str, rows: list[tuple[str, float]], unit: str = "") -> str:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    if not rows:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    top = max(v for _, v in rows) or 1.0
    label_w, value_w = 200, 90
    plot_w = WIDTH - label_w - value_w
    h = BAR_H * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, v) in enumerate(rows):
        y = 24 + i * BAR_H
        w = max(1.0, plot_w * v / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="11" text-anchor="end">{html.escape(label[:32])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{BAR_H - 4}" fill="{COLOR}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="11">{v:,.4g}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, rows: list[tuple[str, float]]) -> str:
    """Vertical columns (a time series or a histogram), labels under each column."""
    if not rows:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    top = max(v for _, v in rows) or 1.0
    plot_h, base = 160, 190
    col_w = max(4.0, (WIDTH - 40) / len(rows))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{base + 50}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="30" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#999"/>',
        f'<text x="26" y="{base - plot_h + 4}" font-size="10" text-anchor="end">{top:,.4g}</text>',
    ]
    every = max(1, len(rows) // 12)
    for i, (label, v) in enumerate(rows):
        x = 32 + i * col_w
        hgt = plot_h * v / top
        parts.append(f'<rect x="{x:.1f}" y="{base - hgt:.1f}" width="{col_w * 0.8:.1f}" height="{hgt:.1f}" fill="{COLOR}"><title>{html.escape(label)}: {v:,.4g}</title></rect>')
        if i % every == 0:
            parts.append(
                f'<text x="{x + col_w * 0.4:.1f}" y="{base + 12}" font-size="9" text-anchor="end" '
                f'transform="rotate(-45 {x + col_w * 0.4:.1f} {base + 12})">{html.escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('-' if c is None else str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any], title: str = "trainmedic reliability report") -> str:
    """The whole report as one self-contained HTML page with inline SVG charts."""
    m = report["mtbf"]
    rf = report["repeat_faults"]
    ttr = report["time_to_repair_hours"]
    comp_rows = [(c["component"], c["mtbf_hours"]) for c in m["by_component"] if c["mtbf_hours"]]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Period: {report['period']['days']} days; {report['fleet']['cards']:,} cards on {report['fleet']['nodes']:,} nodes; "
        f"{report['failures']:,} hardware failures. Fleet MTBF per card: {m['fleet_card_hours'] or '-'} card-hours.</p>",
        "<h2>MTBF per component</h2>",
        bar_chart("MTBF per component (hours, higher is better)", comp_rows, " h"),
        _table(["component", "failures", "basis", "MTBF (h)"], [[c["component"], c["failures"], c["basis"], c["mtbf_hours"]] for c in m["by_component"]]),
        "<h2>MTBF per card model</h2>",
        _table(["model", "failures", "card-hours", "MTBF (h)"], [[x["model"], x["failures"], x["card_hours"], x["mtbf_hours"]] for x in m["by_model"]]),
        "<h2>Top offenders</h2>",
        bar_chart("Failures per node (top)", [(n["node"], n["failures"]) for n in report["top_offenders"]["nodes"]]),
        bar_chart("Failures per card (top)", [(c["card"], c["failures"]) for c in report["top_offenders"]["cards"]]),
        f"<p>Median node MTBF (nodes that failed): {m['node_median_hours'] or '-'} h.</p>",
        "<h2>Repeat faults</h2>",
        _table(
            ["devices", "failed", "failed again", "repeat rate"],
            [["cards", rf["cards"]["failed"], rf["cards"]["failed_again"], rf["cards"]["rate"]],
             ["nodes", rf["nodes"]["failed"], rf["nodes"]["failed_again"], rf["nodes"]["rate"]]],
        ),
        f"<p>Repairs returned to service: {rf['repairs_returned']}; failed again within {rf['failed_within_days']:g} days: "
        f"{rf['repairs_that_did_not_hold']} (rate {rf['refail_rate'] if rf['refail_rate'] is not None else '-'}).</p>",
        "<h2>Time to repair</h2>",
        f"<p>{ttr['count']} repairs: median {ttr['p50']} h, p90 {ttr['p90']} h, p99 {ttr['p99']} h.</p>",
        column_chart("Time to repair", [(b["bucket"], b["count"]) for b in ttr["histogram"]]),
        "<h2>Failures per month</h2>",
        column_chart("Failures per month", [(x["month"], x["failures"]) for x in report["failures_by_month"]]),
    ]
    style = (
        "body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
