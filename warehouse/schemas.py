"""Explicit pyarrow schemas, one per warehouse table. A stage adds its table here; nothing is inferred."""

from __future__ import annotations

import pyarrow as pa

DOCS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # sha256(source, locator)
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),  # sha256 of the normalised text
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("n_bytes", pa.int64(), nullable=False),
        pa.field("lang", pa.string()),
        pa.field("meta", pa.string()),  # JSON object
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

REJECTS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # a code from curators.sources.RejectReason
        pa.field("detail", pa.string()),  # a sentence for a person
        pa.field("excerpt", pa.string()),  # the start of the offending input, made printable
        pa.field("n_bytes", pa.int64()),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("flow", pa.string(), nullable=False),
        pa.field("config", pa.string()),  # JSON, secrets excluded
        pa.field("config_hash", pa.string()),
        pa.field("versions", pa.string()),  # JSON: package versions
        pa.field("started", pa.timestamp("us", tz="UTC")),
        pa.field("finished", pa.timestamp("us", tz="UTC")),
        pa.field("status", pa.string()),  # running | finished | failed
        pa.field("counts", pa.string()),  # JSON
        pa.field("error", pa.string()),
    ]
)

LABELS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the document
        pa.field("prompt_id", pa.string(), nullable=False),  # task@version:sha8
        pa.field("model", pa.string(), nullable=False),
        pa.field("score", pa.int8()),  # 0-5; null unless status = ok
        pa.field("rationale", pa.string()),
        pa.field("raw", pa.string()),  # the model's last answer, verbatim
        pa.field("status", pa.string(), nullable=False),  # ok | invalid | failed
        pa.field("error", pa.string()),
        pa.field("truncated", pa.bool_()),  # the document was cut to the token budget
        pa.field("chars_sent", pa.int64()),
        pa.field("attempts", pa.int32()),
        pa.field("cached", pa.bool_()),  # answered from the response cache (not paid in this run)
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("cache_key", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

EMBEDDINGS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),  # embedder name @ max sequence length
        pa.field("vector", pa.list_(pa.float32()), nullable=False),  # L2-normalised
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

FILTERS = pa.schema(
    [
        pa.field("filter_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # folder with filter.skops + card.json
        pa.field("kind", pa.string()),
        pa.field("embedder", pa.string()),
        pa.field("prompt_ids", pa.string()),  # JSON list
        pa.field("labellers", pa.string()),  # JSON list of labeller models
        pa.field("n_labels", pa.int64()),
        pa.field("threshold", pa.int8()),
        pa.field("f1", pa.float64()),  # held-out binary F1 at the threshold
        pa.field("baseline_f1", pa.float64()),
        pa.field("metrics", pa.string()),  # JSON
        pa.field("created", pa.timestamp("us", tz="UTC")),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

SCORES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("filter_id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),  # predicted educational value, 0-5
        pa.field("proba", pa.float32(), nullable=False),  # P(score >= threshold)
        pa.field("keep", pa.bool_(), nullable=False),  # score >= threshold - 0.5 (the score rounds to >= it)
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

LABEL_SAMPLE = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("reason", pa.string(), nullable=False),  # centroid | random-fill | random | uncertain | all
        pa.field("cluster", pa.int32()),
        pa.field("proba", pa.float32()),  # uncertain: P(educational) under the filter when chosen
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Near-duplicate detection (curators/dedup.py). One row per document per signature config.
MINHASH = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("sig_config", pa.string(), nullable=False),  # hash of normalisation + shingles + permutations + bands
        pa.field("exact_hash", pa.string(), nullable=False),  # xxh3-128 hex of the normalised text
        pa.field("n_tokens", pa.int64(), nullable=False),
        pa.field("n_shingles", pa.int64(), nullable=False),  # shingles (repeats counted); 0: not deduplicated
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("bands", pa.list_(pa.uint64())),  # one LSH key per band; null when n_shingles = 0
        pa.field("signature", pa.binary()),  # num_perm uint32 little-endian (datasketch affine32 hash values)
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Verified candidate pairs (a < b), kept so an incremental run never verifies a pair twice.
DUP_PAIRS = pa.schema(
    [
        pa.field("a", pa.string(), nullable=False),
        pa.field("b", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),  # minhash | semantic
        pa.field("similarity", pa.float32(), nullable=False),  # Jaccard (exact or estimated) or cosine
        pa.field("is_dup", pa.bool_(), nullable=False),
        pa.field("verify_config", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Every document found to duplicate another; the survivor of its cluster is not listed.
DUPS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),  # exact | minhash | semantic
        pa.field("cluster_id", pa.string(), nullable=False),  # the smallest member id of the cluster
        pa.field("dup_of", pa.string(), nullable=False),  # the cluster's survivor
        pa.field("similarity", pa.float32()),  # to the member it was matched with (1.0 for exact)
        pa.field("matched_with", pa.string()),  # that member (the pair that put it in the cluster)
        pa.field("cluster_size", pa.int64()),
        pa.field("cluster_kept", pa.int64()),  # members of the cluster kept (a chain may keep several)
        pa.field("target", pa.string(), nullable=False),  # the table deduplicated: docs | generations
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Synthetic data (curators/synth). A seed is one draw of the diversity axes (or a web extract).
SEEDS = pa.schema(
    [
        pa.field("seed_id", pa.string(), nullable=False),  # stable hash of the seed's content
        pa.field("kind", pa.string(), nullable=False),  # taxonomy | web
        pa.field("subject", pa.string()),
        pa.field("topic", pa.string()),
        pa.field("subtopic", pa.string()),
        pa.field("audience", pa.string()),
        pa.field("style", pa.string()),
        pa.field("persona", pa.string()),
        pa.field("vocabulary", pa.string()),  # JSON list of words to weave in
        pa.field("source_doc_id", pa.string()),  # web seeds: the curated document
        pa.field("extract", pa.string()),  # web seeds: up to ~1000 characters of it
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Generated texts. `id` (not gen_id) so that the embed, score and dedup stages read them like docs.
GENERATIONS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),  # textbook | exercise
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("parent_id", pa.string()),  # exercise: the textbook it was written from
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("params", pa.string()),  # JSON sampling params
        pa.field("text", pa.large_string(), nullable=False),  # "" unless status = ok
        pa.field("status", pa.string(), nullable=False),  # ok | too_short | truncated | invalid | failed
        pa.field("reason", pa.string()),
        pa.field("stripped_opening", pa.string()),  # boilerplate removed from the start, if any
        pa.field("meta", pa.string()),  # JSON: exercise fields, etc.
        pa.field("n_chars", pa.int64()),
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("cached", pa.bool_()),
        pa.field("cache_key", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

CONTAMINATION = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the document or generation
        pa.field("target", pa.string(), nullable=False),  # docs | generations (NULL in older shards: generations)
        pa.field("benchmark", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),  # ngram | ngram+difflib
        pa.field("ngram", pa.int32(), nullable=False),
        pa.field("ngram_overlap", pa.float32(), nullable=False),  # share of the item's n-grams found
        pa.field("difflib_ratio", pa.float32()),
        pa.field("matched", pa.string()),  # the first shared n-gram
        pa.field("run_id", pa.string(), nullable=False),
    ]
)


# Instruction and preference data (curators/instruct). Ids are sha256 of what a row is (never random).
# Every LLM row keeps its prompt, model, sampling params, usage and the cache key of its answer.
LLM_COLUMNS = [
    pa.field("prompt_id", pa.string()),
    pa.field("model", pa.string()),
    pa.field("params", pa.string()),  # JSON sampling params
    pa.field("tokens_in", pa.int64()),
    pa.field("tokens_out", pa.int64()),
    pa.field("cost_usd", pa.float64()),
    pa.field("cached", pa.bool_()),
    pa.field("cache_key", pa.string()),
    pa.field("run_id", pa.string(), nullable=False),
]
INSTRUCTIONS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # sha256 of method + seed + text (+ the request, if no text)
        pa.field("method", pa.string(), nullable=False),  # self-instruct | evol | magpie | grounded
        pa.field("seed_id", pa.string()),  # the request's seed: round/index, a seed task, a document id
        pa.field("parent_id", pa.string()),  # evol: the instruction it rewrites
        pa.field("round", pa.int32()),
        pa.field("text", pa.large_string(), nullable=False),  # as written (also when dropped, for audits)
        pa.field("status", pa.string(), nullable=False),  # ok | similar | too_short | ... | invalid | failed
        pa.field("reason", pa.string()),
        pa.field("rouge_l", pa.float32()),  # highest ROUGE-L F with the pool (self-instruct, grounded)
        pa.field("similar_to", pa.string()),
        pa.field("meta", pa.string()),  # JSON: evol operation, seed task kind, ...
        *LLM_COLUMNS,
    ]
)

RESPONSES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("instruction_id", pa.string(), nullable=False),
        pa.field("principle", pa.string(), nullable=False),
        pa.field("temperature", pa.float32()),
        pa.field("text", pa.large_string(), nullable=False),  # "" when no answer
        pa.field("status", pa.string(), nullable=False),  # ok | truncated | apology | empty | invalid | failed
        pa.field("reason", pa.string()),
        pa.field("n_chars", pa.int64()),
        *LLM_COLUMNS,
    ]
)

RATINGS = pa.schema(
    [
        pa.field("response_id", pa.string(), nullable=False),
        pa.field("instruction_id", pa.string(), nullable=False),
        pa.field("judge", pa.string(), nullable=False),  # the judging model
        pa.field("instruction_following", pa.int8()),  # 1-5, NULL unless status = ok
        pa.field("helpfulness", pa.int8()),
        pa.field("honesty", pa.int8()),
        pa.field("truthfulness", pa.int8()),
        pa.field("overall", pa.float32()),  # the mean of the four
        pa.field("rationale", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # ok | invalid (raw kept) | failed
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),  # the judge's last answer when it never validated
        *LLM_COLUMNS,
    ]
)

# Candidate pairs from the ratings (one row per rated instruction; written once per run).
PREFERENCE_PAIRS = pa.schema(
    [
        pa.field("pair_id", pa.string(), nullable=False),
        pa.field("instruction_id", pa.string(), nullable=False),
        pa.field("chosen_id", pa.string()),
        pa.field("rejected_id", pa.string()),
        pa.field("chosen_rating", pa.float32()),
        pa.field("rejected_rating", pa.float32()),
        pa.field("margin", pa.float32()),
        pa.field("judge", pa.string()),
        pa.field("responses_rated", pa.int32()),
        pa.field("status", pa.string(), nullable=False),  # candidate | tie | too_few_ratings
        pa.field("reason", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# The pairwise confirmation of a candidate pair, asked in both orders (chosen shown as A, then as B).
PAIR_VOTES = pa.schema(
    [
        pa.field("pair_id", pa.string(), nullable=False),
        pa.field("chosen_first", pa.string()),  # the verdict with chosen as A: chosen | rejected | NULL
        pa.field("rejected_first", pa.string()),  # the verdict with rejected as A
        pa.field("swap_consistent", pa.bool_()),  # both orders prefer the same response
        pa.field("agrees", pa.bool_()),  # both orders prefer the chosen one
        pa.field("status", pa.string(), nullable=False),  # ok | flipped | contradicted | invalid | failed
        pa.field("reason", pa.string()),
        pa.field("judge", pa.string()),
        pa.field("prompt_id", pa.string()),
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("cached", pa.bool_()),
        pa.field("cache_keys", pa.string()),  # JSON: the two answers' keys
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Tokens of each distinct document text, per tokenizer: counted once (by `curate export` / `curate report`), so
# the funnel can be told in tokens without tokenizing the corpus again.
DOC_TOKENS = pa.schema(
    [
        pa.field("text_hash", pa.string(), nullable=False),
        pa.field("tokenizer", pa.string(), nullable=False),
        pa.field("tokens", pa.int64(), nullable=False),
    ]
)

# The quality stage's rules, one column each (curators/heuristics/prose.py and code.py define them; a test keeps
# the two lists equal): the measured value, the verdict, and why it failed. Null: not applied (another profile).
QUALITY_RULES: tuple[str, ...] = (
    "gopher_words",
    "gopher_mean_word_length",
    "gopher_hash_ratio",
    "gopher_ellipsis_ratio",
    "gopher_bullet_lines",
    "gopher_ellipsis_lines",
    "gopher_alpha_words",
    "gopher_stop_words",
    "gopher_rep_dup_para_frac",
    "gopher_rep_dup_para_char_frac",
    "gopher_rep_dup_line_frac",
    "gopher_rep_dup_line_char_frac",
    "gopher_rep_top_2gram",
    "gopher_rep_top_3gram",
    "gopher_rep_top_4gram",
    "gopher_rep_dup_5gram",
    "gopher_rep_dup_6gram",
    "gopher_rep_dup_7gram",
    "gopher_rep_dup_8gram",
    "gopher_rep_dup_9gram",
    "gopher_rep_dup_10gram",
    "c4_lorem_ipsum",
    "c4_curly_bracket",
    "c4_sentences",
    "c4_no_terminal_punct_lines",
    "c4_javascript_lines",
    "c4_policy_lines",
    "fineweb_line_punct_ratio",
    "fineweb_short_line_ratio",
    "fineweb_dup_line_chars",
    "fineweb_list_ratio",
    "code_max_line_length",
    "code_mean_line_length",
    "code_alnum_fraction",
    "code_auto_generated",
    "code_numeric_lines",
    "code_base64_chars",
    "code_comment_lines",
)
RULE_VERDICT = pa.struct(
    [
        pa.field("value", pa.float64()),
        pa.field("passed", pa.bool_()),
        pa.field("reason", pa.string()),
    ]
)
QUALITY = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the document
        pa.field("source", pa.string(), nullable=False),
        pa.field("profile", pa.string(), nullable=False),  # prose | code | none
        pa.field("code_language", pa.string()),  # of a code file, as ingest recorded it
        pa.field("lang", pa.string(), nullable=False),  # ISO 639-1 of the text ("und": none found)
        pa.field("lang_score", pa.float32(), nullable=False),
        pa.field("lang_ok", pa.bool_(), nullable=False),  # in a kept language (always true for code)
        pa.field("langid_model", pa.string(), nullable=False),
        *[pa.field(rule, RULE_VERDICT) for rule in QUALITY_RULES],
        pa.field("passed", pa.bool_(), nullable=False),  # every applied rule passed
        pa.field("failed", pa.list_(pa.string()), nullable=False),  # the rules it failed
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "docs": DOCS,
    "rejects": REJECTS,
    "runs": RUNS,
    "labels": LABELS,
    "label_sample": LABEL_SAMPLE,
    "embeddings": EMBEDDINGS,
    "filters": FILTERS,
    "scores": SCORES,
    "minhash": MINHASH,
    "dup_pairs": DUP_PAIRS,
    "dups": DUPS,
    "seeds": SEEDS,
    "generations": GENERATIONS,
    "contamination": CONTAMINATION,
    "instructions": INSTRUCTIONS,
    "responses": RESPONSES,
    "ratings": RATINGS,
    "preference_pairs": PREFERENCE_PAIRS,
    "pair_votes": PAIR_VOTES,
    "doc_tokens": DOC_TOKENS,
    "quality": QUALITY,
}


def schema_for(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {', '.join(TABLES)}") from None
