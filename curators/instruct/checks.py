"""The rules a new instruction passes, each failure a status with its reason (pure functions).

- Self-Instruct (Wang et al.): <= 3 or > 150 words, a blacklisted word (a text model cannot draw or watch),
  a start with punctuation or a non-ASCII character, ROUGE-L F > 0.7 with an instruction already in the pool.
- Evol-Instruct (WizardLM) eliminations: no information gain over the parent, leaked template words
  ("#Rewritten Prompt#"), an answer that is only an apology.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rouge_score import rouge_scorer, tokenizers

from curators.instruct.config import InstructionChecks

LEAKED_TEMPLATE = re.compile(
    r"#\s*(?:given|rewritten|created|new|original)\s+prompt\s*#|\b(?:given|rewritten|created) prompt\b|"
    r"#\s*(?:instruction|prompt|task)\s*#",
    re.I,
)
APOLOGY = re.compile(
    r"\b(?:sorry|apologi[sz]e|i can(?:no|')t (?:help|assist|do|rewrite|create)|as an ai\b|i'm unable|i am unable)",
    re.I,
)
LIST_MARKER = re.compile(r"^\s*(?:\d+\s*[.):]|[-*\u2022]|task\s*\d*\s*:|instruction\s*\d*\s*:)\s*", re.I)


def clean_instruction(text: str) -> str:
    """An instruction as the model wrote it, less list numbering and surrounding quotes or spaces."""
    text = text.strip()
    for _ in range(2):
        text = LIST_MARKER.sub("", text, count=1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def rule_failure(text: str, checks: InstructionChecks) -> tuple[str, str] | None:
    """(status, reason) of the first pool-independent rule `text` fails, or None."""
    if not text.strip():
        return "empty", "no instruction in the answer"
    words = text.split()
    if len(words) < checks.min_words:
        return "too_short", f"{len(words)} words < min_words {checks.min_words}"
    if len(words) > checks.max_words:
        return "too_long", f"{len(words)} words > max_words {checks.max_words}"
    first = text[0]
    if not first.isascii():
        return "bad_start", f"starts with the non-ASCII character {first!r}"
    if not first.isalnum():
        return "bad_start", f"starts with punctuation {first!r}"
    lower = text.lower()
    for word in _blacklist(tuple(checks.blacklist)):
        if word.search(lower):
            return "blacklisted", f"contains the blacklisted word {word.pattern[2:-2]!r}"
    return None


def _blacklist(words: tuple[str, ...]) -> list[re.Pattern[str]]:
    return [re.compile(rf"\b{re.escape(w.lower())}\b") for w in words]


def evolution_failure(parent: str, child: str, no_gain_rouge_l: float) -> tuple[str, str] | None:
    """(status, reason) when an evolved instruction is eliminated (WizardLM's rules), or None."""
    if LEAKED_TEMPLATE.search(child):
        return "leaked_template", f"template words leaked: {LEAKED_TEMPLATE.search(child).group(0)!r}"
    if is_apology(child):
        return "apology", "the rewrite is an apology or a refusal"
    if normalise(child) == normalise(parent):
        return "no_gain", "identical to its parent"
    f = rouge_l(parent, child)
    if f >= no_gain_rouge_l:
        return "no_gain", f"ROUGE-L F {f:.2f} with its parent >= {no_gain_rouge_l}"
    return None


def is_apology(text: str, max_words: int = 80) -> bool:
    """WizardLM: 'sorry' (or a refusal) in a short answer means the model could not do it."""
    return bool(APOLOGY.search(text)) and len(text.split()) < max_words


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


_TOKENIZER = tokenizers.DefaultTokenizer(use_stemmer=False)
_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(a: str, b: str) -> float:
    return _SCORER.score(a, b)["rougeL"].fmeasure


@dataclass
class RougePool:
    """Instructions kept so far; `closest` finds the pooled one with the highest ROUGE-L F.

    rouge-score's own tokenizer and LCS (`_score_lcs`, the function `RougeScorer.score` calls) on tokens
    computed once per pooled instruction: calling `score()` would tokenise the whole pool again for every
    candidate. Pairs whose length ratio alone bounds F below the threshold are not compared at all
    (F <= 2 * min(len) / (len a + len b))."""

    threshold: float
    texts: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    _tokens: list[list[str]] = field(default_factory=list)

    def add(self, item_id: str, text: str) -> None:
        self.ids.append(item_id)
        self.texts.append(text)
        self._tokens.append(_TOKENIZER.tokenize(text))

    def closest(self, text: str) -> tuple[float, str | None]:
        """(highest ROUGE-L F, id of that instruction) over the pool; (0.0, None) when empty."""
        tokens = _TOKENIZER.tokenize(text)
        best, best_id = 0.0, None
        n = len(tokens)
        for item_id, other in zip(self.ids, self._tokens, strict=True):
            m = len(other)
            if not n or not m or 2 * min(n, m) / (n + m) <= best:
                continue
            f = rouge_scorer._score_lcs(other, tokens).fmeasure
            if f > best:
                best, best_id = f, item_id
        return best, best_id

    def check(self, item_id: str, text: str) -> tuple[float, str | None, tuple[str, str] | None]:
        """Compare `text` with the pool; add it when it is not too similar. Returns (F, closest id, failure)."""
        f, closest = self.closest(text)
        if f > self.threshold:
            return f, closest, ("similar", f"ROUGE-L F {f:.2f} > {self.threshold} with instruction {closest}")
        self.add(item_id, text)
        return f, closest, None
