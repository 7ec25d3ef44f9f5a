"""Typed records and streaming, atomic JSONL I/O shared by every stage.

Every record carries a stable id and its provenance; artifacts are JSON Lines so a stage
can stream 1.75M paths without holding them in memory. Writes go to a temp file in the
same folder and are renamed into place, so an interrupted stage never leaves a
half-written artifact.

    python -c "from reasonmed.core.records import question_id; print(question_id('Q?', {'A': 'x'}))"
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from reasonmed.core.faults import hold

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Record(BaseModel):
    # frozen + forbid: a typo in a field name is an error, not a silently dropped value
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(Record):
    """One normalised multiple-choice question (the unit of the whole pipeline)."""

    id: str  # stable: hash of normalised stem, context and options (see question_id)
    source: str  # e.g. medqa, medmcqa, pubmedqa, mmlu_anatomy, sample
    split: str
    question: str
    options: dict[str, str]  # lettered, contiguous from "A"
    answer: str  # gold letter
    answer_text: str
    context: str | None = None  # PubMedQA abstract; rendered before the stem
    source_id: str | None = None  # the id the upstream dataset uses, when it has one
    meta: dict[str, Any] = Field(default_factory=dict)


class Reject(Record):
    """An input record that did not pass validation, with the reason."""

    stage: str
    source: str
    record: str  # upstream id, or the location when the record has none (or it is unreadable)
    location: str | None = None  # "<file>:<line>" (JSON list: element, Parquet: row, hub: index)
    field: str  # the field at fault ("record" or "json" when the record as a whole is)
    category: str | None = None  # a fixed reason class (missing, type, too_large, ...) for stats
    reason: str
    raw: str | None = None  # a short excerpt of the offending record


class CoTPath(Record):
    """One chain-of-thought path: one agent, one temperature slot, one sample."""

    id: str  # f"{question_id}/{agent}/t{slot}s{sample}"
    question_id: str
    agent: str  # the role name in params `models`
    backend: str
    model: str
    revision: str
    temperature: float
    top_p: float
    slot: int  # temperature slot index (the paper's _COT1.._COT3)
    sample: int
    seed: int
    prompt_hash: str
    cot: str  # completion with reasoning markers removed (see generate.split_reasoning)
    # The raw completion, only when it differs from `cot` (markers were stripped): storing it
    # twice would double paths.jsonl, the largest artifact (1.75M paths at paper scale).
    text: str | None = None
    markers: list[str]  # reasoning markers found in `text` ("<think>", "## Thinking", ...)
    answer: str | None  # letter the path commits to, if it states one
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class Verdict(Record):
    """The verifier's judgement of one path; `verdict` is None when no attempt parsed."""

    path_id: str
    question_id: str
    agent: str
    temperature: float
    verdict: Literal["Correct", "Error"] | None
    reason: str | None
    parsed: bool
    attempts: int
    error: str | None = None  # last parse error when parsed is False
    model: str
    prompt_hash: str
    prompt_tokens: int
    completion_tokens: int


# --- ids -----------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    r"""Case-, space- and Unicode-folded text used for ids and duplicate detection.

    Whitespace runs become one space and the ends are stripped: `" ".join(t.split())` is
    exactly `re.sub(r"\s+", " ", t).strip()` (both use Unicode whitespace, checked for every
    code point), 4x faster."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def question_id(question: str, options: dict[str, str], context: str | None = None) -> str:
    """Stable id: the same question text and options give the same id in any source."""
    payload = json.dumps(
        [normalise_text(context or ""), normalise_text(question),
         [normalise_text(options[k]) for k in sorted(options)]],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def content_hash(*parts: Any) -> str:
    """Short sha256 of JSON-serialised parts (prompt files, rendered prompts)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- streaming JSONL -----------------------------------------------------------------

R = TypeVar("R", bound=BaseModel)


def read_jsonl(path: str | os.PathLike, model: type[R]) -> Iterator[R]:
    """Stream records of one type; a malformed line is an error naming file and line."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield model.model_validate_json(line)
                except ValueError as e:
                    raise ValueError(f"{path}:{n}: not a valid {model.__name__}: {e}") from e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temps(path: Path) -> None:
    """Delete temp files a killed writer of `path` left behind (same host, dead pid)."""
    prefix = f".{path.name}.{socket.gethostname()}."
    for f in path.parent.glob(f".{path.name}.*.tmp"):
        pid = f.name[len(prefix):-len(".tmp")] if f.name.startswith(prefix) else ""
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                f.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds.

    The temp file is named `.<name>.<host>.<pid>.tmp`, so a later writer can tell the
    leftovers of a killed process (SIGKILL skips the cleanup) and remove them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = path.parent / f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp"
    umask = os.umask(0)
    os.umask(umask)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 & ~umask)
    os.close(fd)
    try:
        yield tmp
        hold(f"before_rename:{path.name}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class JsonlWriter:
    """Atomic JSONL writer: `with JsonlWriter(p) as w: w.write(rec)`; counts what it wrote."""

    def __init__(self, path: str | os.PathLike):
        self.path, self.count = Path(path), 0

    def __enter__(self) -> JsonlWriter:
        self._ctx = atomic_path(self.path)
        self._f = open(self._ctx.__enter__(), "w", encoding="utf-8")
        return self

    def write(self, rec: BaseModel | dict) -> None:
        line = rec.model_dump_json() if isinstance(rec, BaseModel) else json.dumps(
            rec, ensure_ascii=False)
        self._f.write(line + "\n")
        self.count += 1

    def write_all(self, recs: Iterable[BaseModel | dict]) -> int:
        for r in recs:
            self.write(r)
        return self.count

    def __exit__(self, *exc) -> None:
        self._f.close()
        self._ctx.__exit__(*exc)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write a small JSON artifact (stats, reports, ledgers)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


# --- curation (route, rank, refine, optimize, summarize, assemble, score) ------------

Tier = Literal["easy", "medium", "difficult", "unrouted"]


class Route(Record):
    """One question's EMD tier from its paths' verdicts (stage `route`)."""

    question_id: str
    tier: Tier
    n_paths: int
    n_error: int  # Error verdicts, plus unparsed ones when route.unparsed == "error"
    n_correct: int
    n_unparsed: int
    reason: str | None = None  # why a question is "unrouted"
    verdicts: dict[str, str | None]  # path_id -> "Correct" | "Error" | None (unparsed)
    reasons: dict[str, str | None]  # path_id -> the verifier's reason


class Score(Record):
    """The quality ranker's (0-5) or score evaluator's (1-10) judgement of one text."""

    item_id: str  # path_id (rank) or dataset row id (score)
    question_id: str
    score: int | None  # None when no attempt parsed: reported, never counted as 0
    justification: str | None
    parsed: bool
    attempts: int
    error: str | None = None
    model: str
    prompt_hash: str
    prompt_tokens: int
    completion_tokens: int


class Chosen(Record):
    """A CoT chosen for the datasets: ranked (easy), refined (medium) or optimized (difficult)."""

    id: str  # f"{source_path_id}/{origin}{k}"
    question_id: str
    tier: Tier
    origin: Literal["ranked", "refined", "optimized"]
    source_path_id: str  # the generated path it comes from
    rank: int  # 0-based position among the question's chosen CoTs
    agent: str  # agent of the source path
    model: str  # model that wrote `cot` (the agent's, refiner's or optimizer's)
    temperature: float
    cot: str
    score: int | None = None  # ranker score of the source path
    verdict: Literal["Correct", "Error"] | None  # latest verification of `cot`
    verify_reason: str | None = None
    kept: bool = True  # False: failed re-verification and the stage's policy drops it
    history: list[dict[str, Any]] = Field(default_factory=list)  # one entry per step
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Summary(Record):
    """The response summarizer's concise answer for one chosen CoT."""

    chosen_id: str
    question_id: str
    summary: str
    answer: str | None  # the letter the summary states, if any
    states_gold: bool  # the summary states the gold letter
    finish_reason: str
    model: str
    prompt_hash: str
    prompt_tokens: int
    completion_tokens: int
