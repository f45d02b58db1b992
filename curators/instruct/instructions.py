"""New instructions from four methods, each a stage on the shared LLM-stage runner, each row with its
method, its seed, and a status with a reason (`curators.instruct.checks`):

- self-instruct (Wang et al.): rounds of prompts showing `seed_examples` seed tasks and `generated_examples`
  instructions kept in earlier rounds; each answer's instructions go through the rules, then the ROUGE-L pool
  (seed tasks and every instruction kept so far).
- evol (WizardLM): round 0 rewrites the seed tasks (or usable instructions of a method), round r the ones
  round r-1 kept: in depth (one of five operations) or, for `breadth_share` of them, in breadth; a rewrite
  is eliminated when it gains nothing over its parent, leaks the template's words, or is an apology.
- magpie: the model's chat-template prefix up to the user turn, sent as a raw completion; the model writes
  the user's turn and stops at the end-of-turn text.
- grounded: questions a curated document (or a textbook) answers; the document's id is the seed.

The ROUGE-L pool is filled in the order answers arrive (the request order on the embedded endpoint, which
asks one at a time), as Self-Instruct filters in generation order.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from curators.instruct import store
from curators.instruct.checks import RougePool, clean_instruction, evolution_failure, rouge_l, rule_failure
from curators.instruct.config import InstructionsConfig
from curators.instruct.seed_tasks import load_seed_tasks
from curators.llm.gateway import LLMRequest, LLMResult
from curators.llm.prompts import load_prompt
from curators.llm.runner import LLMStage

Method = Literal["self-instruct", "evol", "magpie", "grounded"]
METHODS: tuple[str, ...] = ("self-instruct", "evol", "magpie", "grounded")

# WizardLM's in-depth operations.
DEPTH_OPERATIONS = {
    "constraints": "Add one more constraint or requirement to the given prompt.",
    "deepening": "If the given prompt asks about certain issues, increase the depth and breadth of the inquiry.",
    "concretizing": "Replace general concepts with more specific concepts.",
    "reasoning": "If the given prompt can be solved with just a few simple thinking steps, rewrite it to "
    "explicitly request multiple-step reasoning.",
    "complicate_input": "Add a small piece of input data the prompt must work on (a short table, a code snippet "
    "or a short passage), written out in full.",
}
LEADING_LABEL = re.compile(r"^\s*#*\s*(?:rewritten|created|new)\s+prompt\s*#*\s*:?\s*", re.I)


class InstructionRun(BaseModel):
    """What an instructions run depends on: the method, its config, the model, and (Magpie) the prefix."""

    method: Method
    instructions: InstructionsConfig
    model: str
    magpie_prefix: str | None = None
    magpie_stop: list[str] = []


def instruction_id(method: str, seed: str, text: str, repeat: int = 0) -> str:
    return hashlib.sha256(f"{method}\0{seed}\0{text}\0{repeat}".encode()).hexdigest()[:16]


def _base(result: LLMResult, run_id: str, params: dict[str, Any], share: float = 1.0) -> dict[str, Any]:
    return {
        "prompt_id": result.prompt_id,
        "model": result.model,
        "params": json.dumps(params, sort_keys=True),
        "tokens_in": round(result.tokens_in * share),
        "tokens_out": round(result.tokens_out * share),
        "cost_usd": result.cost_usd * share,
        "cached": result.cached,
        "cache_key": result.key,
        "run_id": run_id,
    }


class InstructionStage(LLMStage):
    """What the four methods share: the rows of an answer (rules, then the pool when there is one)."""

    table = "instructions"
    method: str
    config: InstructionsConfig

    def __init__(self, root: Path, run_id: str, config: InstructionRun, model: str, round: int = 0) -> None:
        super().__init__(run_id, model, config.instructions, self._prompt_ids(config), round)
        self.root = root
        self.run = config
        self.pool: RougePool | None = None
        self.seed_of: dict[str, str] = {}  # item id -> the seed recorded on its rows
        self.parent_of: dict[str, tuple[str, str]] = {}  # item id -> (parent id, parent text)
        self.meta_of: dict[str, dict[str, Any]] = {}
        self.params: dict[str, Any] = {}
        self.max_tokens = config.instructions.max_tokens

    @property
    def batch_size(self) -> int:
        return self.config.batch

    @property
    def batches_share_state(self) -> bool:  # type: ignore[override]
        """With a ROUGE-L pool, each answer is checked against those before it: one process writes the round."""
        return self.pool is not None

    def _prompt_ids(self, config: InstructionRun) -> tuple[str, ...]:
        return ()

    def params_for(self, item: str) -> dict[str, Any]:
        """The sampling params of one request: with a seed of its own, so a sampling server answers the same
        request the same way (llama.cpp, vLLM and OpenAI take `seed`)."""
        return {**self.params, "seed": hash_of(item) % 2**31}

    def failed_row(self, result: LLMResult, status: str, reason: str) -> dict[str, Any]:
        seed = self.seed_of.get(result.item_id, result.item_id)
        return {
            **_base(result, self.run_id, self.params),
            "id": instruction_id(self.method, seed, "", hash_of(result.item_id)),
            "method": self.method,
            "seed_id": seed,
            "parent_id": self.parent_of.get(result.item_id, (None, ""))[0],
            "round": self.round,
            "text": "",
            "status": status,
            "reason": reason,
            "rouge_l": None,
            "similar_to": None,
            "meta": json.dumps(self.meta_of.get(result.item_id) or {}),
        }

    def text_rows(self, result: LLMResult, texts: list[str]) -> list[dict[str, Any]]:
        """One row per instruction of an answer, each checked (the usage shared among them)."""
        seed = self.seed_of.get(result.item_id, result.item_id)
        parent_id, parent_text = self.parent_of.get(result.item_id, (None, ""))
        rows, seen = [], {}
        share = 1 / max(1, len(texts))
        for raw in texts:
            text = clean_instruction(raw)
            repeat = seen[text] = seen.get(text, -1) + 1
            failure = rule_failure(text, self.config.checks)
            score, similar = None, None
            if failure is None and parent_text:
                failure = evolution_failure(parent_text, text, self.run.instructions.evol.no_gain_rouge_l)
                score = rouge_l(parent_text, text)
            if failure is None and self.pool is not None:
                item = instruction_id(self.method, seed, text, repeat)
                score, similar, failure = self.pool.check(item, text)
            status, reason = failure or ("ok", None)
            rows.append(
                {
                    **_base(result, self.run_id, self.params, share),
                    "id": instruction_id(self.method, seed, text, repeat),
                    "method": self.method,
                    "seed_id": seed,
                    "parent_id": parent_id,
                    "round": self.round,
                    "text": text,
                    "status": status,
                    "reason": reason,
                    "rouge_l": score,
                    "similar_to": similar,
                    "meta": json.dumps(self.meta_of.get(result.item_id) or {}),
                }
            )
        return rows

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        if result.status != "ok":
            return [self.failed_row(result, result.status, result.error or result.status)]
        texts = self.texts_of(result)
        if not texts:
            return [self.failed_row(result, "empty", "no instruction in the answer")]
        return self.text_rows(result, texts)

    def texts_of(self, result: LLMResult) -> list[str]:
        return [str(t) for t in (result.parsed or {}).get("instructions") or []]


def hash_of(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _requests_per_round(n: int, per_request: int, rounds: int) -> list[int]:
    total = -(-n // per_request)
    return [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]


class SelfInstructStage(InstructionStage):
    name = "instruct-self-instruct"
    method = "self-instruct"

    def _prompt_ids(self, config: InstructionRun) -> tuple[str, ...]:
        return (load_prompt(config.instructions.self_instruct.prompt).prompt_id,)

    def __init__(self, root: Path, run_id: str, config: InstructionRun, model: str, round: int = 0) -> None:
        super().__init__(root, run_id, config, model, round)
        si = config.instructions.self_instruct
        self.rounds = si.rounds
        self.prompt = load_prompt(si.prompt)
        self.params = {
            **self.prompt.params,
            "temperature": config.instructions.temperature,
            "max_tokens": self.max_tokens,
        }
        self.seeds = load_seed_tasks(si.seed_tasks)
        self.pool = RougePool(self.config.checks.rouge_l)
        for task in self.seeds:
            self.pool.add(task.id, task.text)
        written = store.instructions_of_run(root, run_id)
        self.generated = sorted(
            (r for r in written if r["status"] == "ok" and (r["round"] or 0) < round), key=lambda r: r["id"]
        )
        for row in written:
            if row["status"] == "ok" and (row["round"] or 0) <= round:
                self.pool.add(row["id"], row["text"])
        self.prompt_tokens = 200 + 60 * (si.seed_examples + si.generated_examples)

    def requests(self) -> list[LLMRequest]:
        si = self.run.instructions.self_instruct
        counts = _requests_per_round(self.config.n, si.per_request, si.rounds)
        first = sum(counts[: self.round])
        requests = []
        for i in range(first, first + counts[self.round]):
            rng = random.Random(f"{self.config.seed}:self-instruct:{i}")
            examples = rng.sample(self.seeds, min(si.seed_examples, len(self.seeds)))
            shown = [t.text for t in examples]
            if self.generated and si.generated_examples:
                picked = rng.sample(self.generated, min(si.generated_examples, len(self.generated)))
                shown += [r["text"] for r in picked]
            else:  # round 0: seed tasks only
                more = [t for t in self.seeds if t not in examples]
                shown += [t.text for t in rng.sample(more, min(si.generated_examples, len(more)))]
            item = f"si-{i:05d}"
            self.seed_of[item] = item
            self.meta_of[item] = {"examples": [t.id for t in examples]}
            requests.append(
                LLMRequest(
                    item_id=item,
                    messages=self.prompt.render(examples=shown, n=si.per_request),
                    params=self.params_for(item),
                    output=self.prompt.output_model,
                    sample=i,  # the i-th request: two prompts that happen to be alike are still two answers
                    prompt_id=self.prompt.prompt_id,
                )
            )
        return requests


class EvolStage(InstructionStage):
    name = "instruct-evol"
    method = "evol"

    def _prompt_ids(self, config: InstructionRun) -> tuple[str, ...]:
        evol = config.instructions.evol
        return (load_prompt(evol.prompt_depth).prompt_id, load_prompt(evol.prompt_breadth).prompt_id)

    def __init__(self, root: Path, run_id: str, config: InstructionRun, model: str, round: int = 0) -> None:
        super().__init__(root, run_id, config, model, round)
        evol = config.instructions.evol
        self.rounds = evol.rounds
        self.depth, self.breadth = load_prompt(evol.prompt_depth), load_prompt(evol.prompt_breadth)
        self.params = {"temperature": config.instructions.temperature, "max_tokens": self.max_tokens}
        if round == 0:
            self.parents = self._first_parents(root)
        else:
            written = store.instructions_of_run(root, run_id)
            self.parents = [(r["id"], r["text"]) for r in written if r["status"] == "ok" and r["round"] == round - 1]
        self.parents = self.parents[: self.config.n]
        self.prompt_tokens = 400 + max((len(t) // 3 for _, t in self.parents), default=0)

    def _first_parents(self, root: Path) -> list[tuple[str, str]]:
        evol = self.run.instructions.evol
        if evol.from_method == "seeds":
            tasks = load_seed_tasks(self.run.instructions.self_instruct.seed_tasks)
            rng = random.Random(f"{self.config.seed}:evol")
            return [(t.id, t.text) for t in rng.sample(tasks, min(self.config.n, len(tasks)))]
        found = store.usable_instructions(root, evol.from_method, self.config.n)
        if not found:
            from curators.errors import CurateError

            raise CurateError(
                f"no usable {evol.from_method} instructions to evolve",
                hint=f"run `curate synth instructions --method {evol.from_method}` first, or evolve the seed tasks",
            )
        return [(r["id"], r["text"]) for r in found]

    def requests(self) -> list[LLMRequest]:
        evol = self.run.instructions.evol
        requests = []
        for parent_id, text in self.parents:
            rng = random.Random(f"{self.config.seed}:evol:{self.round}:{parent_id}")
            if rng.random() < evol.breadth_share:
                operation, prompt, messages = "breadth", self.breadth, self.breadth.render(instruction=text)
            else:
                operation = rng.choice(sorted(DEPTH_OPERATIONS))
                prompt = self.depth
                messages = prompt.render(instruction=text, operation=DEPTH_OPERATIONS[operation])
            item = f"evol-r{self.round}-{parent_id}"
            self.seed_of[item] = parent_id
            self.parent_of[item] = (parent_id, text)
            self.meta_of[item] = {"operation": operation}
            requests.append(
                LLMRequest(item_id=item, messages=messages, params=self.params_for(item), prompt_id=prompt.prompt_id)
            )
        return requests

    def texts_of(self, result: LLMResult) -> list[str]:
        text = LEADING_LABEL.sub("", (result.raw or "").strip(), count=1).strip()
        return [text] if text else []


class MagpieStage(InstructionStage):
    name = "instruct-magpie"
    method = "magpie"

    def _prompt_ids(self, config: InstructionRun) -> tuple[str, ...]:
        return (magpie_prompt_id(config.magpie_prefix or ""),)

    def __init__(self, root: Path, run_id: str, config: InstructionRun, model: str, round: int = 0) -> None:
        super().__init__(root, run_id, config, model, round)
        if not config.magpie_prefix:
            raise ValueError("a Magpie run needs the chat template's prefix")
        magpie = config.instructions.magpie
        self.max_tokens = magpie.max_tokens
        self.params = {
            "temperature": magpie.temperature,
            "top_p": magpie.top_p,
            "max_tokens": magpie.max_tokens,
            "stop": list(config.magpie_stop),
        }
        self.prompt_tokens = len(config.magpie_prefix) // 3 + 16

    def requests(self) -> list[LLMRequest]:
        prompt_id = magpie_prompt_id(self.run.magpie_prefix or "")
        return [
            LLMRequest(
                item_id=f"magpie-{i:05d}",
                messages=[],
                prompt=self.run.magpie_prefix,
                params={**self.params, "seed": self.config.seed * 1_000_003 + i},
                sample=i,
                prompt_id=prompt_id,
                accept_cut=True,
            )
            for i in range(self.config.n)
        ]

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        if result.status == "ok" and result.finish_reason == "length":
            row = self.text_rows(result, [result.raw or ""])[0]
            row.update(status="truncated", reason=f"the user turn did not end within {self.max_tokens} tokens")
            return [row]
        return super().rows(result)

    def texts_of(self, result: LLMResult) -> list[str]:
        text = (result.raw or "").strip()
        return [text] if text else []


def magpie_prompt_id(prefix: str) -> str:
    return f"magpie:{hashlib.sha256(prefix.encode()).hexdigest()[:8]}"


class GroundedStage(InstructionStage):
    name = "instruct-grounded"
    method = "grounded"

    def _prompt_ids(self, config: InstructionRun) -> tuple[str, ...]:
        return (load_prompt(config.instructions.grounded.prompt).prompt_id,)

    def __init__(self, root: Path, run_id: str, config: InstructionRun, model: str, round: int = 0) -> None:
        super().__init__(root, run_id, config, model, round)
        grounded = config.instructions.grounded
        self.prompt = load_prompt(grounded.prompt)
        self.params = {
            **self.prompt.params,
            "temperature": config.instructions.temperature,
            "max_tokens": self.max_tokens,
        }
        self.passages = store.passages(root, grounded.source, self.config.n, grounded.min_score)
        self.pool = RougePool(self.config.checks.rouge_l)
        for row in store.instructions_of_run(root, run_id):
            if row["status"] == "ok":
                self.pool.add(row["id"], row["text"])
        self.prompt_tokens = grounded.max_chars // 3 + 300

    def requests(self) -> list[LLMRequest]:
        from curators.synth.exercises import cut_passage

        grounded = self.run.instructions.grounded
        requests = []
        for passage in self.passages:
            item = passage["id"]
            self.seed_of[item] = item
            self.meta_of[item] = {"source": grounded.source}
            requests.append(
                LLMRequest(
                    item_id=item,
                    messages=self.prompt.render(
                        text=cut_passage(passage["text"], grounded.max_chars), n=grounded.per_document
                    ),
                    params=self.params_for(item),
                    output=self.prompt.output_model,
                    prompt_id=self.prompt.prompt_id,
                )
            )
        return requests


STAGES: dict[str, type[InstructionStage]] = {
    "self-instruct": SelfInstructStage,
    "evol": EvolStage,
    "magpie": MagpieStage,
    "grounded": GroundedStage,
}
