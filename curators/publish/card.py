"""The dataset card, `OUT/README.md`: the Hub's YAML metadata (built with huggingface_hub's DatasetCardData:
`configs` with their files, `dataset_info` with features and sizes, license, languages, task categories, size
category, tags) and a body generated from the warehouse, never edited by hand: the pipeline as it ran, the
funnel, the filter, dedup, decontamination, synthetic data, a sample record per config and how to load it."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from curators.publish.config import ExportConfig
from curators.publish.export import ConfigFiles

TASKS = {
    "pretrain": "text-generation",
    "textbooks": "text-generation",
    "exercises": "text-generation",
    "sft": "text-generation",
    "dpo": "text-generation",
}
SYNTHETIC = {"textbooks", "exercises", "sft", "dpo"}
SAMPLE_CHARS = 600


def size_category(rows: int) -> str:
    """The Hub's size category of a row count."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    bounds += [(10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    return next((label for bound, label in bounds if rows < bound), "n>1B")


def _features(schema: pa.Schema) -> list[dict[str, Any]]:
    from datasets import Features

    # `_to_yaml_list` is what `datasets` itself writes into a card's `dataset_info` (push_to_hub).
    return Features.from_arrow_schema(schema)._to_yaml_list()


STAGE_TAGS = {"train": "educational-filter", "dedup": "deduplicated", "decontam": "decontaminated"}


def card_data(configs: list[ConfigFiles], config: ExportConfig, title: str, ran: list[str]) -> Any:
    """The YAML metadata, as a DatasetCardData; `ran`: the flows that ran (their tags)."""
    from huggingface_hub import DatasetCardData

    default = next((c.name for c in configs if c.name != "rejected"), configs[0].name if configs else None)
    tags = ["curators", *(tag for stage, tag in STAGE_TAGS.items() if stage in ran)]
    if any(c.name in SYNTHETIC for c in configs):
        tags.append("synthetic")
    return DatasetCardData(
        pretty_name=title,
        license=config.license,
        language=config.language,
        task_categories=sorted({TASKS[c.name] for c in configs if c.name in TASKS}) or None,
        size_categories=[size_category(sum(c.rows for c in configs if c.name != "rejected"))],
        tags=tags,
        configs=[
            {"config_name": c.name, "data_files": [{"split": "train", "path": c.pattern}]}
            | ({"default": True} if c.name == default else {})
            for c in configs
        ],
        dataset_info=[
            {
                "config_name": c.name,
                "features": _features(c.schema),
                "splits": [{"name": "train", "num_bytes": c.nbytes, "num_examples": c.rows}],
                "download_size": c.download_size,
                "dataset_size": c.nbytes,
            }
            for c in configs
        ],
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        text = f"{value:,}" if isinstance(value, int) else f"{value:.3f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def card_body(
    title: str,
    configs: list[ConfigFiles],
    tokens: dict[str, int | None],
    samples: dict[str, dict[str, Any]],
    facts: dict[str, Any],
    masked_config: dict[str, Any],
    tokenizer: str | None,
) -> str:
    """The card's Markdown body, from the export and the warehouse's facts."""
    funnel = facts["funnel"]
    ran = ", ".join(r["flow"] for r in facts["runs"]) or "none"
    out = [f"# {title}", ""]
    out += [
        "Training data for small language models, curated with curators (ingest, LLM labels of educational "
        "value, a random-forest filter over sentence embeddings, exact and MinHash deduplication, benchmark "
        f"decontamination, synthetic data). Stages that ran for this export: {ran}. Everything below is "
        "generated from the warehouse the export was made from.",
        "",
        "## Configs",
        "",
        _table(
            ["config", "rows", f"tokens ({tokenizer or 'not counted'})", "files", "Parquet bytes"],
            [
                [
                    c.name,
                    c.rows,
                    tokens.get(c.name) if tokens.get(c.name) is not None else "-",
                    len(c.files),
                    c.download_size,
                ]
                for c in configs
            ],
        ),
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        *[f'{c.name} = load_dataset("REPO_OR_FOLDER", "{c.name}", split="train")' for c in configs],
        "```",
        "",
        "## Funnel",
        "",
        _funnel_table(funnel, facts.get("funnel_tokens"), facts.get("tokens_by")),
        "",
        "A stage that never ran drops nothing; a document can be dropped for several reasons (each counted).",
        "",
    ]
    if facts["rejects"]:
        out += [
            "Rejected at ingest, by reason:",
            "",
            _table(["reason", "inputs"], [[r["reason"], r["n"]] for r in facts["rejects"]]),
            "",
        ]
    if facts["sources"]:
        out += [
            "Per source:",
            "",
            _table(
                ["source", "documents", "kept"], [[r["source"], r["documents"], r["kept"]] for r in facts["sources"]]
            ),
            "",
        ]
    if facts.get("quality_rules"):
        out += [
            "## Quality rules",
            "",
            "Cheap rules before any model saw a document (Gopher quality and repetition, C4 and FineWeb for prose, "
            "with datatrove's default thresholds; line length, alphanumeric share, generated and data files for "
            "code). A document failing any rule of its profile is dropped; each rule on the current documents:",
            "",
            _table(
                ["rule", "applied to", "failed", "pass rate"],
                [[r["rule"], r["applied"], r["failed"], f"{r['pass_rate']:.1%}"] for r in facts["quality_rules"]],
            ),
            "",
        ]
    out += _pii_section(facts.get("pii_config"), facts.get("pii") or {})
    out += [
        "## Pipeline as run",
        "",
        _table(
            ["stage", "run id", "finished", "counts"],
            [[r["flow"], f"`{r['run_id']}`", r["finished"], r["counts"] or ""] for r in facts["runs"]],
        )
        if facts["runs"]
        else "No stage has run.",
        "",
    ]
    versions = next((json.loads(r["versions"]) for r in reversed(facts["runs"]) if r.get("versions")), {})
    if versions:
        out += ["Package versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), ""]
    if facts["labels"]:
        out += [
            "## Labels",
            "",
            _table(
                ["labeller", "prompt", "score", "documents"],
                [[r["model"], f"`{r['prompt_id']}`", r["score"], r["n"]] for r in facts["labels"]],
            ),
            "",
        ]
    flt = facts["filter"]
    if flt:
        metrics = flt["metrics"]
        out += [
            "## Educational filter",
            "",
            f"`{flt['filter_id']}`: {flt['kind']} over `{flt['embedder']}` embeddings, trained on {flt['n_labels']:,} "
            f"labels of {', '.join(flt['labellers']) or 'unknown'}; keep = the predicted score rounds to at least "
            f"{flt['threshold']}. Held-out F1 at the threshold {flt['f1']:.3f} (majority baseline "
            f"{flt['baseline_f1']:.3f}).",
            "",
        ]
        ours, base = metrics.get("filter", {}), metrics.get("majority_baseline", {})
        names = [k for k in ("precision", "recall", "f1", "macro_f1", "mae", "n") if k in ours]
        if names:
            out += [
                _table(["held-out", "filter", "majority baseline"], [[k, ours[k], base.get(k, "-")] for k in names]),
                "",
            ]
        if ours.get("confusion"):
            matrix = ours["confusion"]
            out += ["Confusion matrix (rows: label 0-5, columns: predicted 0-5):", ""]
            out += [
                _table(
                    ["label", *[str(k) for k in range(len(matrix))]], [[str(i), *row] for i, row in enumerate(matrix)]
                ),
                "",
            ]
    if facts["prompts"]:
        rows = [[f"`{r['prompt_id']}`", r["stage"], r["n"]] for r in facts["prompts"]]
        out += ["## Prompts", "", _table(["prompt (task@version:sha8)", "stage", "rows"], rows), ""]
        example = _rendered_label_example(facts.get("label_example"))
        if example:
            out += ["A labelling request as the model received it (the document cut here):", ""]
            out += ["```text", example, "```", ""]
    if facts["usage"]:
        header = ["stage", "model", "requests", "tokens in", "tokens out", "cost (USD)"]
        rows = [
            [r["stage"], r["model"], r["requests"], r["tokens_in"], r["tokens_out"], float(r["cost_usd"])]
            for r in facts["usage"]
        ]
        out += ["## Tokens and cost per stage", "", _table(header, rows), ""]
    if facts["dups"]:
        out += [
            "## Deduplication",
            "",
            _table(["method", "documents removed"], [[r["method"], r["n"]] for r in facts["dups"]]),
            "",
        ]
        dedup = masked_config.get("dedup", {})
        out += [
            f"Settings: `{json.dumps(dedup.get('minhash', {}), sort_keys=True)}`, keep order {dedup.get('keep')}.",
            "",
        ]
    curve = facts.get("s_curve")
    if curve:
        wanted = ("0.50", "0.60", "0.70", "0.76", "0.80", "0.86", "0.90", "0.96")
        shown = {j: p for j, p in curve["p_candidate"].items() if j in wanted}
        out += [f"LSH {curve['bands']} bands x {curve['rows']} rows; P(a pair becomes a candidate | Jaccard J):", ""]
        out += [_table(["J", *shown], [["P(candidate)", *shown.values()]]), ""]
    if facts["contamination"]:
        out += [
            "## Decontamination",
            "",
            _table(
                ["target", "benchmark", "flagged", "items matched"],
                [[r["target"], r["benchmark"], r["flagged"], r["items"]] for r in facts["contamination"]],
            ),
            "",
        ]
    else:
        out += [
            "## Decontamination",
            "",
            "No benchmark item found (or decontamination did not run: see the stages above).",
            "",
        ]
    if facts["generations"]:
        out += [
            "## Synthetic data",
            "",
            _table(
                ["task", "status", "generations", "tokens out", "cost (USD)"],
                [[r["task"], r["status"], r["n"], r["tokens_out"], float(r["cost_usd"])] for r in facts["generations"]],
            ),
            "",
        ]
    out += _diversity_section(facts.get("diversity") or {})
    out += ["## Sample records", ""]
    for name, row in samples.items():
        shown = {
            k: (v[:SAMPLE_CHARS] + " ..." if isinstance(v, str) and len(v) > SAMPLE_CHARS else v)
            for k, v in row.items()
        }
        out += [f"`{name}`:", "", "```json", json.dumps(shown, indent=2, ensure_ascii=False, default=str), "```", ""]
    out += [
        "## Configuration",
        "",
        "The effective configuration of the export (secrets masked):",
        "",
        "```json",
        json.dumps(masked_config, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "Lineage: every row carries its `id` (documents: sha256 of source and locator; generations: of method, "
        "seed and text), its `source` and `locator` or `seed_id`, and the run that wrote it.",
        "",
    ]
    return "\n".join(out)


def _pii_section(config: dict[str, Any] | None, redacted: dict[str, dict[str, int]]) -> list[str]:
    """What personal information was redacted from the exported text (the warehouse keeps the originals)."""
    if config is None:
        return ["## Personal information", "", "PII redaction was off for this export (`export.pii.enabled`).", ""]
    kinds = [
        k
        for k, on in (
            ("e-mail addresses", "emails"),
            ("IP addresses", "ip_addresses"),
            ("phone numbers", "phone_numbers"),
        )
        if config.get(on)
    ]
    rows = [
        [name, c.get("emails", 0), c.get("ip_addresses", 0), c.get("phone_numbers", 0)] for name, c in redacted.items()
    ]
    return [
        "## Personal information",
        "",
        f"Redacted in the exported text: {', '.join(kinds) or 'nothing'} (as datatrove's PIIFormatter does; each "
        "row with a `text` column counts its redactions in `pii_*` columns). Replacements per config:",
        "",
        _table(["config", "e-mail addresses", "IP addresses", "phone numbers"], rows),
        "",
    ]


def _funnel_table(funnel: dict[str, Any], tokens: dict[str, int | None] | None, tokenizer: str | None) -> str:
    """The funnel's steps in documents, and in tokens of `tokenizer` where they were counted."""
    steps = [
        ("seen (ingested + rejected)", funnel["seen"], None),
        ("rejected at ingest", funnel["rejected_at_ingest"], None),
        ("documents", funnel["documents"], "documents"),
        ("failed a quality rule (heuristics)", funnel["heuristics"], "heuristics"),
        ("not in a kept language", funnel["language"], "language"),
        ("not checked (the rules ran)", funnel["not_checked"], "not_checked"),
        ("below the filter's threshold", funnel["below_threshold"], "below_threshold"),
        ("not scored (a filter exists)", funnel["not_scored"], "not_scored"),
        ("duplicates", funnel["duplicates"], "duplicates"),
        ("contaminated", funnel["contaminated"], "contaminated"),
        ("kept (`pretrain`)", funnel["kept"], "kept"),
    ]
    if not tokens:
        return _table(["step", "documents"], [[name, n] for name, n, _ in steps])

    def shown(key: str | None) -> Any:
        value = tokens.get(key) if key else None
        return "-" if value is None else value

    return _table(["step", "documents", f"tokens ({tokenizer})"], [[name, n, shown(key)] for name, n, key in steps])


DIVERSITY_COLUMNS = [  # (header, metric): lower is more diverse for the shares, higher for distinct-n
    ("n", "n"),
    ("distinct-1", "distinct_1"),
    ("distinct-2", "distinct_2"),
    ("distinct-3", "distinct_3"),
    ("top opening share", "top1_opening_share"),
    ("near-dup rate", "near_dup_rate"),
    ("NN cos >= 0.9 share", "nn_cos_ge_share"),
]


def _metric(value: Any) -> Any:
    return "-" if value is None else (round(value, 3) if isinstance(value, float) else value)


def _diversity_section(diversity: dict[str, Any]) -> list[str]:
    """Diversity of the synthetic sets: overall, per seed axis value, and instructions per method."""
    overall, by_axis, instructions = (
        diversity.get("overall"),
        diversity.get("by_axis") or [],
        diversity.get("instructions") or [],
    )
    if not overall and not instructions:
        return []
    out = ["## Diversity of the synthetic data", ""]
    headers = [h for h, _ in DIVERSITY_COLUMNS]
    if overall:
        out += [
            "Textbooks and exercises (ok generations): overall, then per value of each seed axis (distinct-n on a "
            "sample of the texts; opening = the first words; NN = nearest neighbour by embedding, where embedded). "
            "Groups marked small have too few texts for their numbers to mean much.",
            "",
            _table(
                ["axis", "value", *headers],
                [["all", "", *[_metric(overall.get(m)) for _, m in DIVERSITY_COLUMNS]]]
                + [
                    [
                        r["axis"],
                        str(r["value"]) + (" (small)" if r.get("small") else ""),
                        *[_metric(r.get(m)) for _, m in DIVERSITY_COLUMNS],
                    ]
                    for r in by_axis
                ],
            ),
            "",
        ]
    if instructions:
        out += [
            "Usable instructions per method:",
            "",
            _table(
                ["method", *headers, "top opening"],
                [
                    [r["method"], *[_metric(r.get(m)) for _, m in DIVERSITY_COLUMNS], r.get("top1_opening") or "-"]
                    for r in instructions
                ],
            ),
            "",
        ]
    return out


def render_card(data: Any, body: str) -> str:
    """README.md: the YAML front matter, then the body."""
    from huggingface_hub import DatasetCard

    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def _rendered_label_example(example: dict[str, Any] | None, chars: int = 400) -> str | None:
    """The messages of the labelling prompt for the first labelled document, as the model got them (when the
    template on disk is still the one that was used); the document cut to `chars`."""
    if not example:
        return None
    from curators.errors import CurateError
    from curators.llm.prompts import load_prompt

    spec, _, sha8 = example["prompt_id"].partition(":")
    try:
        prompt = load_prompt(spec)
        if prompt.sha8 != sha8:
            return None
        cut = len(example["text"]) > chars
        messages = prompt.render(text=example["text"][:chars] + (" [...]" if cut else ""), truncated=cut, language=None)
    except CurateError:
        return None
    fence = chr(96) * 3  # a fence inside the document would close the card's code block
    return "\n".join(f"--- {m['role']} ---\n{m['content']}" for m in messages).replace(fence, "'" * 3)
