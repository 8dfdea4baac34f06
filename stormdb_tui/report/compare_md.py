"""A comparison document as Markdown (for a pull-request comment) and as plain terminal text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stormdb_tui.report import noise
from stormdb_tui.report.fmt import fmt

HEADLINE_METRICS = ("tps", "qps", "p50", "p95", "p99", "p99_9", "errors")
"""Figures the terminal table always shows; the others only when they are beyond noise."""


def fmt_value(value: Any, row: Mapping[str, Any]) -> str:
    if value is None:
        return "–"
    if row.get("kind") == "share":
        return f"{value * 100:.2f} %"
    unit = row.get("unit") or ""
    if unit == "ms":
        return f"{value:,.3f} ms"
    if unit == "B":
        return f"{value:,.0f} B"
    digits = 1 if abs(value) >= 100 else 3
    return f"{fmt(float(value), digits)}{(' ' + unit) if unit else ''}"


def fmt_change(value: Any, row: Mapping[str, Any]) -> str:
    if value is None:
        return "–"
    if row.get("kind") == "share":
        return f"{value * 100:+.2f} pt"
    return f"{value * 100:+.1f} %"


def fmt_interval(row: Mapping[str, Any]) -> str:
    if row.get("low") is None or row.get("high") is None:
        return "–"
    if row.get("kind") == "share":
        return f"{row['low'] * 100:+.2f} … {row['high'] * 100:+.2f} pt"
    return f"{row['low'] * 100:+.1f} … {row['high'] * 100:+.1f} %"


def verdict_text(row: Mapping[str, Any]) -> str:
    text = str(row.get("verdict"))
    if row.get("weak") and text not in (noise.UNKNOWN,):
        text += " (weak)"
    return text


def _method(comp: Mapping[str, Any]) -> str:
    rows = [r for r in comp["metrics"] if r["metric"] == "tps"] or list(comp["metrics"][:1])
    if not rows:
        return "no figures"
    row = rows[0]
    if row["method"] == "repetitions":
        return (f"bootstrap over repetitions ({int(row['n_base'])} of {comp['base']}, "
                f"{int(row['n_other'])} of {comp['other']})")
    if row["method"] == "intervals":
        return (f"block bootstrap over per-interval values ({row['n_base']:.1f} and {row['n_other']:.1f} "
                "effective independent intervals after autocorrelation)")
    return "no noise estimate (no intervals or repetitions)"


def _summary(comp: Mapping[str, Any]) -> str:
    rows = comp["metrics"]
    worse = [r for r in rows if r["verdict"] == noise.WORSE]
    better = [r for r in rows if r["verdict"] == noise.BETTER]
    quiet = sum(1 for r in rows if r["verdict"] == noise.NOISE)

    def some(items: Sequence[Mapping[str, Any]]) -> str:
        shown = ", ".join(f"{r['metric']} {fmt_change(r['change'], r)}" for r in items[:4])
        return shown + (", …" if len(items) > 4 else "")

    parts = []
    if worse:
        parts.append(f"worse in {len(worse)} ({some(worse)})")
    if better:
        parts.append(f"better in {len(better)} ({some(better)})")
    parts.append(f"{quiet} within noise")
    return f"{comp['other']} against {comp['base']}: " + "; ".join(parts)


def _gate_lines(gate: Mapping[str, Any] | None) -> list[str]:
    if not gate:
        return []
    if gate["passed"]:
        return ["Gate passed: no rule is broken beyond noise (" + ", ".join(r["rule"] for r in gate["rules"]) + ")."]
    out = ["Gate FAILED:"]
    for check in gate["broken"]:
        out.append(f"  {check['rule']}: {check['other']} {check['metric']} {fmt_change(check['change'], check)}"
                   f" against {check['base']}, {check['verdict']}{' (weak)' if check['weak'] else ''}")
    return out


def comparison_text(doc: Mapping[str, Any], *, every: bool = False) -> str:
    """The terminal view: what differs, then one table per compared side, verdicts last."""
    sides = doc["sides"]
    out = ["compare: " + "  vs  ".join(f"{s['name']} ({s['runs']} run{'s' if s['runs'] != 1 else ''})"
                                       for s in sides)]
    diffs = doc.get("differences") or []
    out.append("")
    if diffs:
        out.append("what differs:")
        width = max(len(d["what"]) for d in diffs)
        for d in diffs[:40]:
            mark = "  (!)" if d["blocking"] else ""
            out.append(f"  {d['what']:<{width}}  " + "  |  ".join(_clip(v) for v in d["values"]) + mark)
        if len(diffs) > 40:
            out.append(f"  … and {len(diffs) - 40} more (--json or --markdown lists them all)")
    else:
        out.append("what differs: nothing recorded (same server, settings, workload, run settings and host)")
    for warning in doc.get("warnings") or []:
        out.append(f"warning: {warning}")
    for comp in doc["comparisons"]:
        out.append("")
        rows = [r for r in comp["metrics"]
                if every or r["metric"] in HEADLINE_METRICS or r["verdict"] in noise.BEYOND]
        head = ("figure", comp["base"][:16], comp["other"][:16], "change", "95 % interval", "verdict")
        table = [head] + [(r["label"],
                           fmt_value(r["base"], r), fmt_value(r["other"], r), fmt_change(r["change"], r),
                           fmt_interval(r), verdict_text(r)) for r in rows]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
        for number, row in enumerate(table):
            cells = [str(c).ljust(widths[i]) if i in (0, 5) else str(c).rjust(widths[i]) for i, c in enumerate(row)]
            out.append("  ".join(cells).rstrip())
            if number == 0:
                out.append("  ".join("-" * w for w in widths))
        hidden = len(comp["metrics"]) - len(rows)
        if hidden:
            out.append(f"({hidden} more figures within noise or without a verdict: --all shows them)")
        out.append(f"noise: {_method(comp)}; minimum effect {doc['settings']['min_effect'] * 100:g} %")
        out.append(_summary(comp))
    out.extend(_gate_lines(doc.get("gate")))
    return "\n".join(out) + "\n"


def _clip(value: str, width: int = 40) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


_ICON = {noise.WORSE: "🔴 worse", noise.BETTER: "🟢 better", noise.NOISE: "⚪ within noise",
         noise.CHANGED: "🟡 changed", noise.UNKNOWN: "n/a"}


def _figure_table(comp: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = [f"| Figure | {_cell(comp['base'])} | {_cell(comp['other'])} | Change | 95 % interval | Verdict |",
           "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        verdict = _ICON.get(r["verdict"], r["verdict"]) + (" (weak)" if r["weak"] and r["verdict"] != noise.UNKNOWN
                                                             else "")
        out.append(f"| {_cell(r['label'])} | {fmt_value(r['base'], r)} | {fmt_value(r['other'], r)} | "
                   f"{fmt_change(r['change'], r)} | {fmt_interval(r)} | {verdict} |")
    return out


def comparison_markdown(doc: Mapping[str, Any]) -> str:
    """One Markdown document: verdict first (fit for a pull-request comment), then what differs and every figure."""
    sides = doc["sides"]
    names = [s["name"] for s in sides]
    out = [f"## stormdb-tui compare: {' vs '.join(_cell(n) for n in names)}", ""]
    gate = doc.get("gate")
    if gate:
        if gate["passed"]:
            out.append("**Gate passed**: no rule broken beyond noise (`" + ", ".join(r["rule"] for r in gate["rules"])
                       + "`).")
        else:
            out.append("**Gate failed**: " + "; ".join(
                f"`{c['rule']}`: {_cell(c['other'])} {c['metric']} {fmt_change(c['change'], c)}"
                f"{' (weak)' if c['weak'] else ''}" for c in gate["broken"]) + ".")
        out.append("")
    for comp in doc["comparisons"]:
        out.append(f"- {_cell(_summary(comp))}.")
    out.append("")
    for warning in doc.get("warnings") or []:
        out.append(f"> **Warning:** {_cell(warning)}")
        out.append("")
    out += ["### Runs", "", "| Side | Runs | Status | Started | Intervals | Client-bound |", "|---|---:|---|---|---|---|"]
    for s in sides:
        out.append(f"| {_cell(s['name'])} | {s['runs']} | {', '.join(sorted(set(s['statuses'])))} | "
                   f"{str(s.get('started_at') or '')[:19]} | {', '.join(str(n) for n in s['intervals'])} | "
                   f"{sum(s['client_bound'])} of {s['runs']} |")
    out.append("")
    diffs = doc.get("differences") or []
    out += ["### What differs", ""]
    if diffs:
        out += ["| | " + " | ".join(_cell(n) for n in names) + " |", "|---|" + "---|" * len(names)]
        for d in diffs:
            what = f"**{_cell(d['what'])}**" if d["blocking"] else _cell(d["what"])
            out.append(f"| {what} | " + " | ".join(f"`{_cell(_clip(v, 60))}`" for v in d["values"]) + " |")
    else:
        out.append("Nothing recorded differs: same server version and settings, workload and options, run "
                   "settings, client host and tool version.")
    out.append("")
    for comp in doc["comparisons"]:
        head = [r for r in comp["metrics"]
                if r["metric"] in HEADLINE_METRICS or r["verdict"] in noise.BEYOND]
        out += [f"### {_cell(comp['other'])} against {_cell(comp['base'])}", ""]
        out += _figure_table(comp, head)
        rest = [r for r in comp["metrics"] if r not in head]
        if rest:
            # the rest folds away: a pull-request comment should lead with what changed
            out += ["", f"<details><summary>{len(rest)} more figures, within noise or without a verdict"
                    "</summary>", ""]
            out += _figure_table(comp, rest)
            out += ["", "</details>"]
        out += ["", f"Noise model: {_method(comp)}; minimum effect {doc['settings']['min_effect'] * 100:g} % "
                f"({doc['settings']['level'] * 100:g} % intervals, {doc['settings']['resamples']} resamples, "
                f"seed {doc['settings']['seed']}).", ""]
        weak = sorted({r["reason"] for r in comp["metrics"] if r["weak"] and r["reason"]})
        if weak:
            out += ["Weak verdicts: " + "; ".join(_cell(w) for w in weak[:3]) + ".", ""]
    return "\n".join(out)
