"""A comparison as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

The page shows the verdict and the gate first, what differs, a chart of each
headline figure's change with its confidence interval (the shaded band is
the minimum effect), the headline figures per side as bars, and every
figure's row with its verdict colour.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from stormdb_tui.report import noise
from stormdb_tui.report.compare_md import HEADLINE_METRICS, _summary, fmt_change, fmt_interval, fmt_value
from stormdb_tui.report.html import page

COLOURS = {noise.WORSE: "#c0392b", noise.BETTER: "#1e8449", noise.NOISE: "#7f8c8d", noise.CHANGED: "#b7950b",
           noise.UNKNOWN: "#95a5a6"}
STYLE = """
.verdict { font-weight: 600; } .weak { font-weight: 400; color: #666; }
.gate-fail { background: #fdecea; border-left: 4px solid #c0392b; padding: .5em 1em; }
.gate-pass { background: #eafaf1; border-left: 4px solid #1e8449; padding: .5em 1em; }
.blocking { font-weight: 700; color: #c0392b; }
"""
"""What a comparison adds to the reports' page style (:func:`stormdb_tui.report.html.page`)."""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def forest_svg(rows: Sequence[Mapping[str, Any]], min_effect: float, width: int = 640) -> str:
    """Each row's change as a dot with its interval as a bar; the band around zero is the minimum effect."""
    rows = [r for r in rows if r.get("change") is not None and r.get("kind") == "ratio"]
    if not rows:
        return ""
    left, right, row_h, top = 150, 20, 24, 24
    values = [abs(r["change"]) for r in rows] + [abs(r["low"]) for r in rows if r.get("low") is not None] + \
        [abs(r["high"]) for r in rows if r.get("high") is not None] + [min_effect * 2]
    span = max(values) * 1.1 or 0.1
    height = top + row_h * len(rows) + 20
    plot = width - left - right

    def x(v: float) -> float:
        return left + plot / 2 + max(-1.0, min(1.0, v / span)) * plot / 2

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="change of each figure with its confidence interval">',
           f'<rect x="{x(-min_effect):.1f}" y="{top - 6}" width="{x(min_effect) - x(-min_effect):.1f}" '
           f'height="{row_h * len(rows) + 6}" fill="#ecf0f1"/>',
           f'<line x1="{x(0):.1f}" y1="{top - 8}" x2="{x(0):.1f}" y2="{height - 16}" stroke="#999"/>',
           f'<text x="{x(-span):.1f}" y="{height - 2}" font-size="11" fill="#666">{-span * 100:+.0f} %</text>',
           f'<text x="{x(span) - 40:.1f}" y="{height - 2}" font-size="11" fill="#666">{span * 100:+.0f} %</text>',
           f'<text x="{x(0) - 4:.1f}" y="{height - 2}" font-size="11" fill="#666">0</text>']
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h / 2 - 6
        colour = COLOURS.get(r["verdict"], "#444")
        out.append(f'<text x="4" y="{y + 4:.1f}" font-size="12">{_e(r["label"])}</text>')
        if r.get("low") is not None and r.get("high") is not None:
            out.append(f'<line x1="{x(r["low"]):.1f}" y1="{y:.1f}" x2="{x(r["high"]):.1f}" y2="{y:.1f}" '
                       f'stroke="{colour}" stroke-width="3" stroke-linecap="round"/>')
        out.append(f'<circle cx="{x(r["change"]):.1f}" cy="{y:.1f}" r="5" fill="{colour}">'
                   f'<title>{_e(r["label"])}: {_e(fmt_change(r["change"], r))} ({_e(r["verdict"])})</title></circle>')
    out.append("</svg>")
    return "".join(out)


def bars_svg(label: str, names: Sequence[str], values: Sequence[float | None], unit_row: Mapping[str, Any],
             width: int = 420) -> str:
    """One figure per side as horizontal bars."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top, bar_h, left = 22, 20, 140
    height = top + bar_h * len(names) + 6
    peak = max(known) or 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_e(label)} per side"><text x="0" y="14" font-size="12" font-weight="600">{_e(label)}</text>']
    for i, (name, value) in enumerate(zip(names, values, strict=False)):
        y = top + i * bar_h
        out.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(name[:20])}</text>')
        if value is None:
            continue
        w = (width - left - 110) * value / peak
        out.append(f'<rect x="{left}" y="{y + 3}" width="{max(w, 1):.1f}" height="{bar_h - 6}" '
                   f'fill="{"#5d6d7e" if i == 0 else "#2e86c1"}"/>')
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="12">{_e(fmt_value(value, unit_row))}</text>')
    out.append("</svg>")
    return "".join(out)


def comparison_html(doc: Mapping[str, Any]) -> str:
    sides = doc["sides"]
    names = [s["name"] for s in sides]
    settings = doc["settings"]
    subtitle = (f"{_e(doc['tool']['name'])} {_e(doc['tool']['version'])}, {_e(doc['created_at'][:19])}; minimum "
                f"effect {settings['min_effect'] * 100:g} %, {settings['level'] * 100:g} % intervals, "
                f"{settings['resamples']} resamples, seed {settings['seed']}.")
    body: list[str] = []
    gate = doc.get("gate")
    if gate:
        if gate["passed"]:
            body.append('<div class="gate-pass">Gate passed: no rule broken beyond noise (<code>'
                        + _e(", ".join(r["rule"] for r in gate["rules"])) + "</code>).</div>")
        else:
            items = "".join(f"<li><code>{_e(c['rule'])}</code>: {_e(c['other'])} {_e(c['metric'])} "
                            f"{_e(fmt_change(c['change'], c))}{' (weak)' if c['weak'] else ''}</li>"
                            for c in gate["broken"])
            body.append(f'<div class="gate-fail">Gate failed:<ul>{items}</ul></div>')
    body.append("<ul>" + "".join(f"<li>{_e(_summary(c))}</li>" for c in doc["comparisons"]) + "</ul>")
    for warning in doc.get("warnings") or []:
        body.append(f'<div class="warn">{_e(warning)}</div>')
    body.append("<h2>What differs</h2>")
    diffs = doc.get("differences") or []
    if diffs:
        blocking = ' class="blocking"'
        diff_rows = "".join(f"<tr><td{blocking if d['blocking'] else ''}>{_e(d['what'])}</td>"
                       + "".join(f"<td><code>{_e(v[:80])}</code></td>" for v in d["values"]) + "</tr>"
                       for d in diffs)
        body.append("<table><tr><th></th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + f"</tr>{diff_rows}</table>")
    else:
        body.append("<p>Nothing recorded differs.</p>")
    first = doc["comparisons"][0]["metrics"] if doc["comparisons"] else []
    by_key = [{r["metric"]: r for r in c["metrics"]} for c in doc["comparisons"]]
    charts = []
    for key in ("tps", "p99"):
        row = next((r for r in first if r["metric"] == key), None)
        if row is None:
            continue
        values = [row["base"], *[(k.get(key) or {}).get("other") for k in by_key]]
        charts.append(bars_svg(row["label"], names, values, row))
    if charts:
        body.append("<h2>Headline figures</h2>" + "".join(charts))
    for comp in doc["comparisons"]:
        body.append(f"<h2>{_e(comp['other'])} against {_e(comp['base'])}</h2>")
        head = [r for r in comp["metrics"] if r["metric"] in HEADLINE_METRICS
                or r["verdict"] in noise.BEYOND]
        body.append(forest_svg(head[:24], settings["min_effect"]))
        rows: list[str] = []
        for r in comp["metrics"]:
            colour = COLOURS.get(r["verdict"], "#444")
            weak = ' <span class="weak">(weak)</span>' if r["weak"] and r["verdict"] != noise.UNKNOWN else ""
            title = f' title="{_e(r["reason"])}"' if r.get("reason") else ""
            rows.append(f"<tr><td>{_e(r['label'])}</td><td class=n>{_e(fmt_value(r['base'], r))}</td>"
                        f"<td class=n>{_e(fmt_value(r['other'], r))}</td><td class=n>"
                        f"{_e(fmt_change(r['change'], r))}</td><td class=n>{_e(fmt_interval(r))}</td>"
                        f'<td class="verdict" style="color:{colour}"{title}>{_e(r["verdict"])}{weak}</td></tr>')
        body.append(f"<table><tr><th>Figure</th><th>{_e(comp['base'])}</th><th>{_e(comp['other'])}</th>"
                    "<th>Change</th><th>95 % interval</th><th>Verdict</th></tr>" + "".join(rows) + "</table>")
    return page(f"stormdb-tui compare: {' vs '.join(names)}", [b for b in body if b], subtitle=subtitle, style=STYLE)
