"""A sweep's results: one JSON document with every step's report embedded, and its Markdown.

The document (``kind: "sweep"``) keeps each step's full report under
``steps[i].report``, so anything a single run reports stays available, and
adds what only a series shows: the USL fit and its predicted peak for a
concurrency sweep, the SLO verdict per step and the rate found by
``--find-rate``, and the highest QPS at a recall threshold for a vector
recall sweep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from stormdb_tui import __version__
from stormdb_tui.report.fmt import fmt, table
from stormdb_tui.report.model import write_atomic
from stormdb_tui.report.plots import text_chart
from stormdb_tui.report.usl import UslFit, fit_usl

SWEEP_SCHEMA_VERSION = 1
CONCURRENCY_SETTINGS = ("run.workers", "workers")


def usl_for(setting: str, steps: Sequence[Mapping[str, Any]]) -> UslFit | None:
    """The USL fit of a closed-model concurrency sweep (None for other settings or too few steps)."""
    if setting not in CONCURRENCY_SETTINGS:
        return None
    good = [s for s in steps if s.get("report") is not None and (s["figures"].get("tps") or 0) > 0
            and s["figures"].get("rate") is None]
    return fit_usl([s["value"] for s in good], [s["figures"]["tps"] for s in good])


def best_at_recall(steps: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, Any] | None:
    """The step with the highest QPS whose recall@k is at least ``threshold`` (VectorDBBench's way)."""
    ok = [s for s in steps if (s["figures"].get("recall_at_k") is not None
                                and s["figures"]["recall_at_k"] >= threshold and s["figures"].get("tps"))]
    if not ok:
        return None
    best = max(ok, key=lambda s: s["figures"]["tps"])
    return {"threshold": threshold, "step": best["index"], "value": best["value"], "qps": best["figures"]["tps"],
            "recall_at_k": best["figures"]["recall_at_k"]}


def build_sweep_document(
    *,
    setting: str,
    strategy: str,
    steps: Sequence[Mapping[str, Any]],
    started_at: str,
    ended_at: str | None,
    status: str,
    config: Mapping[str, Any] | None = None,
    slo: Mapping[str, Any] | None = None,
    find_rate: Mapping[str, Any] | None = None,
    recall_threshold: float | None = None,
) -> dict[str, Any]:
    """The sweep's JSON document from its steps (each ``{index, value, figures, report, status, ...}``)."""
    fit = usl_for(setting, steps)
    doc: dict[str, Any] = {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "kind": "sweep",
        "tool": {"name": "stormdb-tui", "version": __version__},
        "status": status,
        "started_at": started_at,
        "ended_at": ended_at,
        "setting": setting,
        "strategy": strategy,
        "values": [s["value"] for s in steps],
        "config": dict(config or {}),
        "steps": [dict(s) for s in steps],
        "usl": fit.as_dict() if fit is not None else None,
        "slo": dict(slo) if slo else None,
        "find_rate": dict(find_rate) if find_rate else None,
        "recall": best_at_recall(steps, recall_threshold) if recall_threshold is not None else None,
    }
    if recall_threshold is not None and doc["recall"] is None:
        doc["recall"] = {"threshold": recall_threshold, "step": None,
                         "note": "no step reached the recall threshold"}
    return doc


def xy_plot(plt: Any, points: Sequence[tuple[float, float | None]], *, title: str, x_label: str,
            y_label: str = "", curve: Any = None, marks: Sequence[tuple[float, str]] = ()) -> None:
    """Measured points (and a fitted curve, and vertical marks) against the swept value, with plotext.

    The same draw function serves the Markdown (:func:`~stormdb_tui.report.plots.text_chart`) and
    the workbench's sweep screen, so both show the same chart.
    """
    pts = [(float(x), float(y)) for x, y in points if y is not None]
    plt.title(title)
    plt.xlabel(x_label)
    if y_label:
        plt.ylabel(y_label)
    if not pts:
        plt.title(title + ": no steps yet")
        return
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    top = max(ys)
    if curve is not None:
        hi = max(xs + [m for m, _ in marks])
        cx = [hi * i / 200 for i in range(1, 201)]
        cy = [curve(x) for x in cx]
        top = max(top, max(cy))
        plt.plot(cx, cy, color="blue", marker="braille", label="fitted")
    plt.scatter(xs, ys, color="green", marker="o", label="measured")
    for x, text in marks:
        plt.vline(x, "magenta")
        plt.text(text, x, top * 1.05, color="magenta", alignment="center")
    plt.ylim(0, max(top * 1.12, 1.0))


def _chart(**kwargs: Any) -> list[str]:
    return ["```", text_chart(lambda plt: xy_plot(plt, **kwargs), width=80, height=20).rstrip(), "```", ""]


def _value(v: Any) -> str:
    return fmt(int(v)) if isinstance(v, float) and v.is_integer() else fmt(v)


def sweep_markdown(doc: Mapping[str, Any]) -> str:
    """The sweep as Markdown: the steps table, the fit or search verdict, and the chart."""
    steps = doc["steps"]
    setting = doc["setting"]
    out = [f"# Sweep of `{setting}` ({doc['strategy']}, {len(steps)} steps, {doc['status']})", ""]
    has_recall = any(s["figures"].get("recall_at_k") is not None for s in steps)
    has_slo = any(s.get("slo_met") is not None for s in steps)
    headers = ["step", setting, "tps", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "errors", "cache hit",
               "WAL B/tx", "client-bound"]
    if has_recall:
        headers.append("recall@k")
    if has_slo:
        headers.append("SLO")
    rows = []
    for s in steps:
        f = s["figures"]
        lat = f.get("latency_ms") or {}
        hit = f.get("cache_hit_ratio")
        row = [
            s["index"] + 1,
            _value(s["value"]),
            fmt(f.get("tps"), 1),
            fmt(lat.get("p50"), 3),
            fmt(lat.get("p95"), 3),
            fmt(lat.get("p99"), 3),
            fmt(lat.get("p99_9"), 3),
            f"{f.get('errors', 0):,} ({(f.get('error_rate') or 0) * 100:.2f}%)" if f else (s.get("error") or "–"),
            f"{hit * 100:.2f}%" if hit is not None else "–",
            fmt(f.get("wal_bytes_per_tx"), 0),
            fmt(f.get("client_bound")),
        ]
        if has_recall:
            row.append(fmt(f.get("recall_at_k"), 4))
        if has_slo:
            row.append("–" if s.get("slo_met") is None else ("met" if s["slo_met"] else "missed"))
        rows.append(row)
    out.append(table(headers, rows))
    out.append("")
    failed = [s for s in steps if s.get("error")]
    for s in failed:
        out.append(f"- step {s['index'] + 1} ({_value(s['value'])}): {s['error']}")
    if failed:
        out.append("")
    fit = doc.get("usl")
    if fit:
        out += _usl_section(doc, fit)
    if doc.get("find_rate"):
        out += _rate_section(doc)
    if doc.get("recall"):
        out += _recall_section(doc)
    if not fit and not doc.get("find_rate"):
        points = [(s["value"], s["figures"].get("tps")) for s in steps if s["figures"].get("tps") is not None]
        if points:
            out += ["## Throughput against the swept value", ""]
            out += _chart(points=points, title=f"tps against {setting}", x_label=setting)
    return "\n".join(out).rstrip() + "\n"


def _usl_section(doc: Mapping[str, Any], fit: Mapping[str, Any]) -> list[str]:
    from stormdb_tui.report.usl import usl

    lam, sigma, kappa = fit["lambda"], fit["sigma"], fit["kappa"]
    peak = fit.get("peak_concurrency")
    lines = [
        "## The knee (Universal Scalability Law)",
        "",
        "X(N) = λN / (1 + σ(N−1) + κN(N−1)), least squares over the steps:",
        "",
        f"- λ (one client, no interference): {fmt(lam, 1)} tps",
        f"- σ (contention): {sigma:.4f}",
        f"- κ (coherency): {kappa:.6f}",
        f"- fit quality: R² = {fit['r2']:.4f} over {fit['points']} steps",
    ]
    if peak is not None:
        lines.append(f"- predicted peak: N* = sqrt((1−σ)/κ) = {peak:.1f} workers, {fmt(fit['peak_throughput'], 0)} tps")
    else:
        lines.append("- predicted peak: none (κ = 0: throughput levels off towards λ/σ instead of falling)")
    lines.append(f"- measured peak: {_value(fit['measured_peak_concurrency'])} workers, "
                 f"{fmt(fit['measured_peak_throughput'], 0)} tps")
    points = [(s["value"], s["figures"]["tps"]) for s in doc["steps"] if s["figures"].get("tps") is not None]
    marks = [(peak, f"N* {peak:.1f}")] if peak is not None and peak <= 4 * max(p[0] for p in points) else []
    lines.append("")
    lines += _chart(points=points, curve=lambda n: usl(n, lam, sigma, kappa), marks=marks,
                    title="tps against workers: measured (o) and the USL fit", x_label="workers")
    return lines


def _rate_section(doc: Mapping[str, Any]) -> list[str]:
    found = doc["find_rate"]
    steps = doc["steps"]
    slo = (doc.get("slo") or {}).get("text", "")
    lines = ["## Highest rate that meets the SLO", "", f"SLO: `{slo}` (open model, latency from the scheduled start)", ""]
    if found.get("rate") is None:
        lines.append(f"No rate tried meets the SLO ({found.get('reason')}).")
    else:
        lines.append(f"**{fmt(found['rate'], 1)} tx/s** ({found.get('reason')}).")
    for key, what in (("pass_step", "meets it"), ("fail_step", "misses it")):
        index = found.get(key)
        if index is None:
            continue
        s = steps[index]
        detail = ", ".join(f"{d['rule']}: {fmt(d['value'], 3)}{'' if d['ok'] else ' ✗'}" for d in s.get("slo_details", []))
        lines.append(f"- step {index + 1} at {fmt(s['value'], 1)}/s {what}: {detail}")
    points = [(s["value"], s["figures"].get("latency_ms", {}).get("p99")) for s in steps
              if s["figures"].get("latency_ms", {}).get("p99") is not None]
    lines.append("")
    if points:
        lines += _chart(points=points, title="p99 (ms) against the target rate", x_label="target rate (tx/s)")
    return lines


def _recall_section(doc: Mapping[str, Any]) -> list[str]:
    rec = doc["recall"]
    lines = ["## Recall against throughput", ""]
    if rec.get("step") is None:
        lines.append(f"No step reached recall@k ≥ {rec['threshold']}.")
    else:
        lines.append(f"Highest QPS at recall@k ≥ {rec['threshold']}: **{fmt(rec['qps'], 1)}** at "
                     f"`{doc['setting']}` = {_value(rec['value'])} (recall@k {rec['recall_at_k']:.4f}).")
    points = [(s["figures"]["recall_at_k"], s["figures"]["tps"]) for s in doc["steps"]
              if s["figures"].get("recall_at_k") is not None and s["figures"].get("tps") is not None]
    lines.append("")
    if points:
        lines += _chart(points=points, title="QPS against recall@k", x_label="recall@k")
    return lines


def write_sweep(doc: Mapping[str, Any], json_path: str | os.PathLike[str] | None,
                md_path: str | os.PathLike[str] | None) -> list[str]:
    """Write the JSON and/or Markdown atomically; the paths written."""
    written = []
    if json_path:
        written.append(write_atomic(json_path, json.dumps(doc, indent=2, default=str) + "\n"))
    if md_path:
        written.append(write_atomic(md_path, sweep_markdown(doc)))
    return written
