"""Near-duplicate quality on real documents with planted near-duplicates of known true Jaccard.

The corpus is real source code (the Python standard library's and this virtualenv's site-packages `.py`
files, as in benchmarks/dedup_vs_datatrove.py, --mb megabytes). --pairs of its documents (1-20 KB,
at least 150 words) get an edited copy added: whitespace-separated words deleted, inserted (words
drawn from the corpus) and swapped with their neighbour, and in a third of the copies one paragraph
moved elsewhere; the edit rate is searched so the copy's Jaccard similarity to its source hits a
target drawn uniformly from [--min-j, 1.0]. The TRUE Jaccard of every pair is then measured on our
exact shingle sets (`curators.minhash.shingle_set` + `jaccard`, word 5-grams, same normalisation),
never taken from the recipe.

Variants, each in its own process (benchmarks/dedup_vs_datatrove.py runs them):

  curators 14x8        : the library path (signatures -> DuckDB -> deduplicate), verified by exact Jaccard
  curators derived     : the same with bands x rows derived from the threshold (MinHashConfig's default)
  datatrove 14x8       : MinhashDedupSignature/Buckets/Cluster, unverified (its defaults, 5-grams, 14x8)

Reported pairs: ours: every verified pair at or above the threshold plus the exact-duplicate pairs;
datatrove: the distinct bucket matches in its .dups files (what its clustering unions). Every reported
pair, planted or not (real code has natural near-duplicates), gets its true Jaccard measured.

  precision = reported pairs with true J >= threshold - 0.05 / reported pairs      (goal >= 0.99)
  recall    = planted pairs with true J >= threshold + 0.05 whose two documents end up in one
              cluster / such planted pairs                                         (goal >= 0.98)
  removal precision = removed documents whose true J with the document they are a duplicate of
              (ours: `dup_of`; datatrove: the member its cluster keeps) is >= threshold - 0.05
              / removed documents                                                  (goal >= 0.99)

--chains more documents get a chain of two copies, A -> B -> C, each link at a true Jaccard of
0.82-0.90 with the one before, so that A and C are usually below the threshold: clustering by union-find
removes C as a duplicate of A; a removal that is only ever a duplicate of a kept document it matched
does not.

and, per true-J bucket of the planted pairs, the share whose documents end up in one cluster (below
the threshold, that share is the rate of false merges).

    .venv/bin/python benchmarks/dedup_quality.py [--mb 50] [--pairs 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import dedup_vs_datatrove as bench  # noqa: E402

from curators.config import MinHashConfig  # noqa: E402
from curators.dedup.lsh import p_candidate  # noqa: E402
from curators.dedup.minhash import jaccard, shingle_set  # noqa: E402

_PIECE = re.compile(r"(\S+)(\s*)")
BUCKETS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.0001)]


class Editor:
    """Edits of one document, fixed by a seed, applied at a variable rate: the same words are touched
    at a higher rate plus some more, so the similarity falls (nearly) monotonically with the rate."""

    def __init__(self, text: str, vocab: list[str], rng: random.Random) -> None:
        lead = text[: len(text) - len(text.lstrip())]
        self.lead = lead
        self.pieces = [(m.group(1), m.group(2)) for m in _PIECE.finditer(text)]
        n = len(self.pieces)
        self.u = [rng.random() for _ in range(n)]
        self.ops = [rng.choice(("delete", "insert", "swap")) for _ in range(n)]
        self.inserts = [rng.choice(vocab) for _ in range(n)]
        self.move: tuple[int, int] | None = None
        paragraphs = self._paragraph_starts()
        if len(paragraphs) >= 3 and rng.random() < 1 / 3:
            self.move = (rng.randrange(len(paragraphs) - 1), rng.randrange(len(paragraphs)))

    def _paragraph_starts(self) -> list[int]:
        """Piece indices that start a paragraph (after a blank line)."""
        return [0] + [i + 1 for i, (_, sep) in enumerate(self.pieces[:-1]) if sep.count("\n") >= 2]

    def apply(self, rate: float) -> str:
        pieces = list(self.pieces)
        if self.move is not None:
            starts = self._paragraph_starts() + [len(pieces)]
            src, dst = self.move
            block = pieces[starts[src] : starts[src + 1]]
            rest = pieces[: starts[src]] + pieces[starts[src + 1] :]
            at = min(starts[dst], len(rest))
            pieces = rest[:at] + block + rest[at:]
        out: list[tuple[str, str]] = []
        i = 0
        n = len(pieces)
        while i < n:
            word, sep = pieces[i]
            if self.u[i] < rate:
                op = self.ops[i]
                if op == "delete":
                    i += 1
                    continue
                if op == "insert":
                    out.append((self.inserts[i], " "))
                elif op == "swap" and i + 1 < n:
                    out.append((pieces[i + 1][0], sep))
                    out.append((word, pieces[i + 1][1]))
                    i += 2
                    continue
            out.append((word, sep))
            i += 1
        return self.lead + "".join(w + s for w, s in out)


def plant(
    ids: list[str], texts: list[str], n_pairs: int, min_j: float, config: MinHashConfig, seed: int
) -> tuple[list[str], list[str], list[dict]]:
    """Edited copies of `n_pairs` documents at target similarities; returns their ids, texts and the
    planted pairs with their true Jaccard."""
    rng = random.Random(seed)
    vocab = [w for t in rng.sample(texts, min(200, len(texts))) for w in t.split()[:2000]]
    eligible = [i for i, t in enumerate(texts) if 1000 <= len(t) <= 20000 and len(t.split()) >= 150]
    chosen = rng.sample(eligible, min(n_pairs, len(eligible)))
    new_ids, new_texts, pairs = [], [], []
    for k, i in enumerate(chosen):
        target = rng.uniform(min_j, 1.0)
        copy, j = edited_copy(texts[i], target, vocab, rng, config)
        copy_id = f"p{k:07d}"
        new_ids.append(copy_id)
        new_texts.append(copy)
        pairs.append({"a": ids[i], "b": copy_id, "target": target, "j": j})
    return new_ids, new_texts, pairs


def edited_copy(
    text: str, target: float, vocab: list[str], rng: random.Random, config: MinHashConfig
) -> tuple[str, float]:
    """A copy of `text` edited until its true Jaccard with `text` is as near `target` as the rate search gets."""
    source = shingle_set(text, config)
    editor = Editor(text, vocab, random.Random(rng.random()))
    lo, hi = 0.0, 0.6
    best: tuple[float, str] | None = None
    for _ in range(14):
        rate = (lo + hi) / 2
        copy = editor.apply(rate)
        j = jaccard(source, shingle_set(copy, config))
        if best is None or abs(j - target) < abs(best[0] - target):
            best = (j, copy)
        if j > target:
            lo = rate
        else:
            hi = rate
    assert best is not None
    return best[1], best[0]


def plant_chains(
    ids: list[str], texts: list[str], n_chains: int, taken: set[str], config: MinHashConfig, seed: int
) -> tuple[list[str], list[str], list[dict]]:
    """For `n_chains` documents not in `taken`: a copy B at J 0.82-0.90, and a copy C of B at J 0.82-0.90."""
    rng = random.Random(seed + 1)
    vocab = [w for t in rng.sample(texts, min(200, len(texts))) for w in t.split()[:2000]]
    eligible = [
        i for i, t in enumerate(texts) if ids[i] not in taken and 1000 <= len(t) <= 20000 and len(t.split()) >= 150
    ]
    new_ids, new_texts, chains = [], [], []
    for k, i in enumerate(rng.sample(eligible, min(n_chains, len(eligible)))):
        b, j_ab = edited_copy(texts[i], rng.uniform(0.82, 0.9), vocab, rng, config)
        c, j_bc = edited_copy(b, rng.uniform(0.82, 0.9), vocab, rng, config)
        j_ac = jaccard(shingle_set(texts[i], config), shingle_set(c, config))
        new_ids += [f"q{k:07d}b", f"q{k:07d}c"]
        new_texts += [b, c]
        chains.append({"a": ids[i], "b": f"q{k:07d}b", "c": f"q{k:07d}c", "j_ab": j_ab, "j_bc": j_bc, "j_ac": j_ac})
    return new_ids, new_texts, chains


def build(folder: Path, args: argparse.Namespace) -> tuple[Path, list[dict], list[dict]]:
    """The base corpus with the planted copies and chains appended (cached in `folder`)."""
    corpus = folder / f"quality-{args.mb:g}mb-{args.pairs}p-{args.chains}c-seed{args.seed}" / "docs.jsonl"
    planted_file = corpus.with_name("planted.json")
    chains_file = corpus.with_name("chains.json")
    if corpus.exists() and planted_file.exists() and chains_file.exists():
        return corpus, json.loads(planted_file.read_text()), json.loads(chains_file.read_text())
    base = bench.corpus_file(folder, args.mb, args.seed)
    ids, texts = bench.read_corpus(base)
    t = time.perf_counter()
    config = MinHashConfig(ngram=args.ngram)
    new_ids, new_texts, pairs = plant(ids, texts, args.pairs, args.min_j, config, args.seed)
    taken = {p["a"] for p in pairs}
    chain_ids, chain_texts, chains = plant_chains(ids, texts, args.chains, taken, config, args.seed)
    new_ids += chain_ids
    new_texts += chain_texts
    print(f"planted {len(pairs):,} edited copies and {len(chains):,} chains in {time.perf_counter() - t:.1f}s")
    corpus.parent.mkdir(parents=True, exist_ok=True)
    with open(corpus, "w", encoding="utf-8") as fh:
        for i, text in zip(ids + new_ids, texts + new_texts, strict=True):
            fh.write(json.dumps({"id": i, "text": text}) + "\n")
    planted_file.write_text(json.dumps(pairs))
    chains_file.write_text(json.dumps(chains))
    return corpus, pairs, chains


def removed_with(result: dict) -> dict[str, str]:
    """Removed document -> the document it is a duplicate of: ours report it (`dup_of`); for datatrove,
    the member of its cluster that it keeps."""
    if "dup_of" in result:
        return result["dup_of"]
    removed = set(result["removed"])
    members: dict[str, list[str]] = {}
    for doc, cluster in result["clusters"].items():
        members.setdefault(cluster, []).append(doc)
    out = {}
    for docs in members.values():
        kept = [d for d in docs if d not in removed]
        for d in docs:
            if d in removed and kept:
                out[d] = kept[0]
    return out


def same_cluster(clusters: dict[str, str], a: str, b: str) -> bool:
    return a in clusters and clusters.get(a) == clusters.get(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="Megabytes of real source text before planting.")
    parser.add_argument("--pairs", type=int, default=2000, help="Edited copies planted.")
    parser.add_argument("--chains", type=int, default=300, help="Chains A -> B -> C planted.")
    parser.add_argument("--min-j", type=float, default=0.5, help="Lowest target Jaccard of a planted copy.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--bands", type=int, default=14)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--no-datatrove", action="store_true", help="Only our variants.")
    parser.add_argument("--keep", type=Path, help="Build the corpus in (and reuse) this folder.")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="curate-dedup-quality-"))
    corpus, planted, chains = build(folder, args)
    config = MinHashConfig(ngram=args.ngram)
    ids, texts = bench.read_corpus(corpus)
    by_id = dict(zip(ids, texts, strict=True))
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    derived = MinHashConfig(ngram=args.ngram, threshold=args.threshold).lsh
    t = args.threshold
    print(
        f"input: {len(ids):,} documents, {mb:.1f} MB (real Python source + {len(planted):,} planted edited copies "
        f"+ {2 * len(chains):,} chain copies); "
        f"word {args.ngram}-grams, threshold {t}; derived bands x rows: {derived[0]}x{derived[1]}; "
        f"{len(chains):,} chains A -> B -> C, J(A, C) < {t}: {sum(c['j_ac'] < t for c in chains):,}"
    )

    variants = ["curators", "curators-derived"] + ([] if args.no_datatrove else ["datatrove"])
    labels = {
        "curators": f"curators {args.bands}x{args.rows}",
        "curators-derived": f"curators {derived[0]}x{derived[1]}",
        "datatrove": f"datatrove {args.bands}x{args.rows}",
    }
    results = {}
    for v in variants:
        python = bench.ensure_datatrove() if v == "datatrove" else Path(sys.executable)
        print(f"running {v} ...", flush=True)
        results[v] = bench.measure(v, python, args, corpus, folder / f"work-quality-{v}")

    planted_keys = {(min(p["a"], p["b"]), max(p["a"], p["b"])): p["j"] for p in planted}
    sets: dict[str, np.ndarray] = {}

    def true_j(a: str, b: str) -> float:
        key = (min(a, b), max(a, b))
        if key in planted_keys:
            return planted_keys[key]
        for x in key:
            if x not in sets:
                sets[x] = shingle_set(by_id[x], config)
        return jaccard(sets[key[0]], sets[key[1]])

    js = np.array([p["j"] for p in planted])
    print(
        f"\nplanted pairs: {len(planted):,}; true J: min {js.min():.3f}, median {np.median(js):.3f}; "
        f"|true J - target|: median {np.median([abs(p['j'] - p['target']) for p in planted]):.3f}"
    )
    print(
        f"\n{'variant':<20}{'seconds':>9}{'reported':>10}{'planted':>9}{'natural':>9}{'J>=' + f'{t - 0.05:.2f}':>9}"
        f"{'J>=' + f'{t:.2f}':>9}{'precision':>11}{'recall':>9}{'(of)':>7}{'min J':>8}{'removed':>9}"
        f"{'removal prec':>14}"
    )
    summary = {}
    for v in variants:
        r = results[v]
        pairs = {(min(a, b), max(a, b)) for a, b in r["pairs"]}
        sims = {pair: true_j(*pair) for pair in pairs}
        ok = sum(1 for s in sims.values() if s >= t - 0.05 - 1e-9)
        ok_strict = sum(1 for s in sims.values() if s >= t - 1e-9)
        n_planted = sum(1 for pair in pairs if pair in planted_keys)
        high = [p for p in planted if p["j"] >= t + 0.05]
        found = sum(1 for p in high if same_cluster(r["clusters"], p["a"], p["b"]))
        precision = ok / len(pairs) if pairs else 1.0
        recall = found / len(high) if high else 1.0
        dup_of = removed_with(r)
        removal_ok = sum(1 for d, s in dup_of.items() if true_j(d, s) >= t - 0.05 - 1e-9)
        removal = removal_ok / len(dup_of) if dup_of else 1.0
        summary[v] = (precision, recall, removal)
        low = min(sims.values()) if sims else float("nan")
        print(
            f"{labels[v]:<20}{r['seconds']:>9.1f}{len(pairs):>10,}{n_planted:>9,}{len(pairs) - n_planted:>9,}{ok:>9,}"
            f"{ok_strict:>9,}{precision:>11.4f}{recall:>9.4f}{len(high):>7,}{low:>8.3f}{len(dup_of):>9,}{removal:>14.4f}"
        )
    print(
        f"(reported = distinct pairs the variant reports; natural = not planted; J>=x = reported pairs whose true "
        f"Jaccard is at least x;\n precision counts J >= {t - 0.05:.2f} as correct; recall = planted pairs with "
        f"J >= {t + 0.05:.2f} found in one cluster; min J = lowest true J among reported pairs;\n removal prec = "
        f"removed documents whose true J with the document they duplicate is >= {t - 0.05:.2f})"
    )
    for v in variants:
        precision, recall, removal = summary[v]
        verdict = "met" if precision >= 0.99 and recall >= 0.98 and removal >= 0.99 else "NOT met"
        print(f"goal (precision >= 0.99, recall >= 0.98, removal precision >= 0.99) {labels[v]}: {verdict}")

    print(f"\nchains A -> B -> C ({len(chains):,}): what became of C")
    print(f"{'variant':<20}{'C kept':>9}{'C dup of B':>12}{'C dup of A':>12}{'C dup, J < ' + f'{t - 0.05:.2f}':>16}")
    for v in variants:
        dup_of = removed_with(results[v])
        kept = sum(1 for c in chains if c["c"] not in dup_of)
        of_b = sum(1 for c in chains if dup_of.get(c["c"]) == c["b"])
        of_a = sum(1 for c in chains if dup_of.get(c["c"]) == c["a"])
        wrong = sum(1 for c in chains if c["c"] in dup_of and true_j(c["c"], dup_of[c["c"]]) < t - 0.05)
        print(f"{labels[v]:<20}{kept:>9,}{of_b:>12,}{of_a:>12,}{wrong:>16,}")

    print("\nplanted pairs in one cluster, by true Jaccard (P(cand) = LSH candidate probability at the bucket middle)")
    header = f"{'true J':<12}{'pairs':>7}"
    for v in variants:
        header += f"{labels[v]:>22}"
    header += f"{'P(cand) ' + f'{args.bands}x{args.rows}':>15}{'P(cand) ' + f'{derived[0]}x{derived[1]}':>15}"
    print(header)
    for lo, hi in BUCKETS:
        members = [p for p in planted if lo <= p["j"] < hi]
        line = f"{lo:.2f}-{min(hi, 1.0):.2f}  {len(members):>7,}"
        for v in variants:
            if members:
                found = sum(1 for p in members if same_cluster(results[v]["clusters"], p["a"], p["b"]))
                line += f"{found / len(members):>16.3f} ({found:>3})"
            else:
                line += f"{'-':>22}"
        mid = (lo + min(hi, 1.0)) / 2
        line += f"{float(p_candidate(mid, args.bands, args.rows)):>15.3f}{float(p_candidate(mid, *derived)):>15.3f}"
        print(line)

    misses = [
        p for p in planted if p["j"] >= t + 0.05 and not same_cluster(results["curators"]["clusters"], p["a"], p["b"])
    ]
    if misses:
        shown = ", ".join(f"{p['a']}~{p['b']} J={p['j']:.3f}" for p in misses[:5])
        print(f"\ncurators {args.bands}x{args.rows} missed (J >= {t + 0.05:.2f}): {shown}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
