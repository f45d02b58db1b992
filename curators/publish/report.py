"""The HTML report: one self-contained file that opens offline (plotly, its JavaScript inlined once; no
link to any CDN), a chart per thing a user wants to look at, each shown only when its stage ran.

Why plotly: interactive charts (hover for exact counts, zoom a histogram) in a single file with no server
and no network; the library is pure Python and its JavaScript ships in the wheel. Matplotlib PNGs would be
smaller but static; altair needs vl-convert or a CDN for the same."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>window.__jsErrors = [];
window.addEventListener("error", e => window.__jsErrors.push(String(e.message)));</script>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
 h1 {{ margin-bottom: .2rem; }} .sub {{ color: #666; margin-top: 0; }}
 section {{ margin: 2rem 0; }} table {{ border-collapse: collapse; }}
 td, th {{ padding: .2rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }}
 td:first-child, th:first-child {{ text-align: left; }}
 .note {{ color: #777; font-style: italic; }}
</style></head>
<body>
<h1>{title}</h1><p class="sub">{subtitle}</p>
{sections}
<script>
// For a headless browser's check: JavaScript errors so far, and the charts drawn (plotly draws asynchronously).
function __tally() {{
  document.body.dataset.jsErrors = String(window.__jsErrors.length);
  document.body.dataset.charts = String(document.querySelectorAll(".plotly-graph-div .main-svg").length);
}}
__tally(); window.addEventListener("load", () => setInterval(__tally, 250));
</script>
</body></html>
"""


class _Charts:
    """Figures as HTML fragments; plotly.js inlined with the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, figure: Any, height: int = 380) -> str:
        figure.update_layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 60}, template="plotly_white")
        fragment = figure.to_html(full_html=False, include_plotlyjs=self.count == 0, config={"displaylogo": False})
        self.count += 1
        return fragment


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _bars(rows: list[dict[str, Any]], series: str, x: str, y: str) -> Any:
    """A bar chart with one trace per value of `series`."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in sorted({r[series] for r in rows}):
        mine = [r for r in rows if r[series] == name]
        fig.add_bar(x=[r[x] for r in mine], y=[r[y] for r in mine], name=str(name))
    return fig


DIVERSITY = [("distinct-2", "distinct_2"), ("top opening share", "top1_opening_share")]


def _diversity(diversity: dict[str, Any], charts: _Charts) -> str:
    """Per seed axis, distinct-2 and the top opening's share of each value (a chart per axis), and the
    instructions per method: the more distinct bigrams and the smaller the top opening's share, the better."""
    from plotly.subplots import make_subplots

    body = []
    by_axis = diversity.get("by_axis") or []
    axes = list(dict.fromkeys(r["axis"] for r in by_axis))
    if diversity.get("instructions"):
        axes.append("instruction method")
        by_axis = by_axis + [
            {"axis": "instruction method", "value": r["method"], **r} for r in diversity["instructions"]
        ]
    if axes:
        fig = make_subplots(rows=len(axes), cols=1, subplot_titles=axes, vertical_spacing=0.35 / len(axes))
        for k, axis in enumerate(axes, start=1):
            mine = [r for r in by_axis if r["axis"] == axis]
            for j, (label, metric) in enumerate(DIVERSITY):
                fig.add_bar(
                    x=[str(r["value"]) for r in mine],
                    y=[r.get(metric) for r in mine],
                    name=label,
                    marker_color=("#4c78a8", "#f58518")[j],
                    showlegend=k == 1,
                    row=k,
                    col=1,
                )
            fig.update_yaxes(range=[0, 1], row=k, col=1)
        fig.update_layout(barmode="group")
        body.append(charts.html(fig, 260 * len(axes)))
    body.append(
        _table(
            ["axis", "value", "n", "distinct-1", "distinct-2", "distinct-3", "top opening share", "NN cos >= 0.9"],
            [
                [
                    r["axis"],
                    str(r["value"]) + (" (small)" if r.get("small") else ""),
                    r.get("n", 0),
                    *[r.get(m) if r.get(m) is not None else "-" for m in ("distinct_1", "distinct_2", "distinct_3")],
                    r.get("top1_opening_share") if r.get("top1_opening_share") is not None else "-",
                    r.get("nn_cos_ge_share") if r.get("nn_cos_ge_share") is not None else "-",
                ]
                for r in by_axis
            ],
        )
    )
    return "\n".join(body)


def render_report(data: dict[str, Any], title: str) -> str:
    """The report page from `curators.publish.store.report_data`."""
    import plotly.graph_objects as go

    charts = _Charts()
    sections = []
    funnel = data["funnel"]
    steps = [
        ("seen", funnel["seen"]),
        ("documents", funnel["documents"]),
        ("less failed rules / language", funnel["documents"] - funnel["quality_dropped"]),
        ("less below threshold / not scored", funnel["documents"] - funnel["quality_or_filter_dropped"]),
        ("kept (curated)", funnel["kept"]),
    ]
    fig = go.Figure(go.Funnel(y=[s for s, _ in steps], x=[n for _, n in steps], textinfo="value+percent initial"))
    tokens = data.get("funnel_tokens") or {}
    drops = [
        ["rejected at ingest", funnel["rejected_at_ingest"], None],
        ["failed a quality rule", funnel["heuristics"], "heuristics"],
        ["not in a kept language", funnel["language"], "language"],
        ["not checked by the rules", funnel["not_checked"], "not_checked"],
        ["below the threshold", funnel["below_threshold"], "below_threshold"],
        ["not scored", funnel["not_scored"], "not_scored"],
        ["duplicates", funnel["duplicates"], "duplicates"],
        ["contaminated", funnel["contaminated"], "contaminated"],
        ["kept", funnel["kept"], "kept"],
    ]
    if tokens:
        header = ["", "documents", f"tokens ({data['tokens_by']})"]
        rows = [[name, n, "-" if key is None or tokens.get(key) is None else tokens[key]] for name, n, key in drops]
        rows.insert(0, ["all documents", funnel["documents"], tokens.get("documents") or "-"])
        table = _table(header, rows)
    else:
        table = _table(["", "documents"], [[name, n] for name, n, _ in drops]) + _note(
            "Tokens: counted when a tokenizer is configured (export.tokenizer), by `curate report` or `curate export`."
        )
    sections.append(_section("Funnel", charts.html(fig) + table))

    if data["kept_dropped"]:
        fig = _bars(data["kept_dropped"], "outcome", "source", "n")
        fig.update_layout(barmode="stack", xaxis_title="source", yaxis_title="documents")
        sections.append(_section("Kept and dropped, per source and reason", charts.html(fig)))

    rules = [r for r in data.get("quality_rules") or [] if r["failed"]]
    if rules:
        rules.sort(key=lambda r: r["failed"], reverse=True)
        fig = go.Figure(go.Bar(x=[r["failed"] for r in rules], y=[r["rule"] for r in rules], orientation="h"))
        fig.update_layout(xaxis_title="documents failing the rule", yaxis={"autorange": "reversed"})
        body = charts.html(fig) + _table(
            ["rule", "applied to", "failed", "pass rate"],
            [[r["rule"], r["applied"], r["failed"], f"{r['pass_rate']:.1%}"] for r in data["quality_rules"]],
        )
        sections.append(_section("Quality rules", body))
    elif data.get("quality_rules"):
        sections.append(_section("Quality rules", _note("Every document passed every rule of its profile.")))
    else:
        sections.append(_section("Quality rules", _note("The quality rules have not run (`curate quality`).")))

    if data["labels"]:
        fig = _bars(data["labels"], "model", "score", "n")
        fig.update_layout(barmode="group", xaxis_title="educational score (0-5)", yaxis_title="labels")
        sections.append(_section("Labels per labeller", charts.html(fig)))
    else:
        sections.append(_section("Labels per labeller", _note("No label yet (`curate label`).")))

    if data["filter_rounds"]:
        rounds = data["filter_rounds"]
        fig = go.Figure()
        fig.add_scatter(
            x=[r["created"] for r in rounds], y=[r["f1"] for r in rounds], name="filter F1", mode="lines+markers"
        )
        fig.add_scatter(
            x=[r["created"] for r in rounds],
            y=[r["baseline_f1"] for r in rounds],
            name="majority baseline F1",
            mode="lines+markers",
        )
        fig.update_layout(yaxis_title="held-out F1 at the threshold", yaxis_range=[0, 1])
        body = charts.html(fig, 320)
        metrics = (data["filter"] or {}).get("metrics", {})
        confusion = metrics.get("filter", {}).get("confusion")
        if confusion:
            heat = go.Figure(
                go.Heatmap(
                    z=confusion,
                    x=[str(k) for k in range(len(confusion))],
                    y=[str(k) for k in range(len(confusion))],
                    colorscale="Blues",
                    text=confusion,
                    texttemplate="%{text}",
                )
            )
            heat.update_layout(xaxis_title="predicted", yaxis_title="label", yaxis_autorange="reversed")
            body += charts.html(heat, 360)
        sections.append(_section("Educational filter: rounds and the confusion matrix of the newest", body))
    if data["score_bins"]:
        threshold = (data["filter"] or {}).get("threshold", 3)
        fig = go.Figure(
            go.Bar(x=[r["bin"] for r in data["score_bins"]], y=[r["n"] for r in data["score_bins"]], name="documents")
        )
        fig.add_vline(x=threshold - 0.5, line_dash="dash", annotation_text=f"keep: rounds to >= {threshold}")
        fig.update_layout(xaxis_title="predicted score", yaxis_title="documents", bargap=0.05)
        sections.append(_section("Scores", charts.html(fig)))
    else:
        sections.append(_section("Scores", _note("No document scored yet (`curate train`, `curate score`).")))

    if data["s_curve"]:
        curve = data["s_curve"]
        body = ""
        if data["cluster_sizes"]:
            sizes = go.Figure(
                go.Bar(x=[r["size"] for r in data["cluster_sizes"]], y=[r["clusters"] for r in data["cluster_sizes"]])
            )
            sizes.update_layout(xaxis_title="cluster size (documents)", yaxis_title="clusters", xaxis_type="category")
            body += charts.html(sizes, 320)
        points = curve["p_candidate"]
        fig = go.Figure(go.Scatter(x=[float(j) for j in points], y=list(points.values()), mode="lines"))
        fig.add_vline(x=curve["threshold"], line_dash="dash", annotation_text=f"threshold {curve['threshold']}")
        fig.update_layout(
            xaxis_title="Jaccard similarity",
            yaxis_title="P(candidate)",
            title=f"LSH {curve['bands']} bands x {curve['rows']} rows",
        )
        body += charts.html(fig, 320)
        body += _table(["method", "documents removed"], [[r["method"], r["n"]] for r in data["dups"]])
        sections.append(_section("Deduplication", body))
    else:
        sections.append(_section("Deduplication", _note("Deduplication has not run (`curate dedup`).")))

    if data["contamination"]:
        fig = _bars(data["contamination"], "target", "benchmark", "flagged")
        fig.update_layout(barmode="group", yaxis_title="texts flagged")
        sections.append(_section("Decontamination per benchmark", charts.html(fig)))
    else:
        ran = any(r["flow"] == "decontam" for r in data["runs"])
        sections.append(
            _section(
                "Decontamination per benchmark",
                _note(
                    "No benchmark item found in any checked text."
                    if ran
                    else "Decontamination has not run (`curate decontam`)."
                ),
            )
        )

    if data["generations"]:
        gens = data["generations"]
        fig = _bars(gens, "status", "task", "n")
        fig.update_layout(barmode="stack", yaxis_title="generations")
        body = charts.html(fig, 320) + _table(
            ["task", "status", "generations", "tokens out", "cost (USD)"],
            [[r["task"], r["status"], r["n"], r["tokens_out"], float(r["cost_usd"])] for r in gens],
        )
        sections.append(_section("Synthetic data", body))
    diversity = data.get("diversity") or {}
    if diversity.get("by_axis") or diversity.get("instructions"):
        sections.append(_section("Synthetic diversity per axis", _diversity(diversity, charts)))

    if data["timeline"]:
        runs = data["timeline"]
        fig = go.Figure()
        for r in runs:
            fig.add_scatter(
                x=[r["started"], r["finished"]],
                y=[r["flow"], r["flow"]],
                mode="lines+markers",
                line={"width": 10},
                name=r["run_id"],
                showlegend=False,
                hovertext=f"{r['run_id']} ({r['status']})",
            )
        fig.update_layout(xaxis_title="time", yaxis_title="stage")
        sections.append(
            _section(
                "Runs",
                charts.html(fig, 320)
                + _table(
                    ["run", "stage", "status", "started"],
                    [[r["run_id"], r["flow"], r["status"], r["started"]] for r in runs],
                ),
            )
        )

    subtitle = f"{funnel['kept']:,} of {funnel['documents']:,} documents kept; generated from the warehouse, offline"
    return PAGE.format(title=html.escape(title), subtitle=html.escape(subtitle), sections="\n".join(sections))


def write_report(root: Path, out: Path, title: str | None = None, tokenizer: str | None = None) -> tuple[Path, int]:
    """Render the report of the warehouse at `root` to `out` (written atomically). Returns (path, sections).
    `tokenizer`: the funnel in its tokens (as counted in the warehouse; default: any tokenizer that counted)."""
    from curators.publish.store import report_data

    out = Path(out).resolve()
    data = report_data(Path(root), tokenizer)
    page = render_report(data, title or f"curators report: {Path(root).resolve().name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    return out, page.count("<section>")
