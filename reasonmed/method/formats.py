"""The dataset export formats of the assemble stage, written in one streaming pass: per
variant, JSONL with the released columns (instruction/input/output plus id and
question_id), Parquet with the same rows plus full provenance, and TRL conversational
prompt-completion examples (`SFTTrainer(train_dataset=load_dataset("json", data_files=...))`
trains on them as is); and accounting.jsonl, one line per collected question.

    python -c "from reasonmed.method.formats import PROVENANCE; print(PROVENANCE.names)"
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reasonmed.core.conversation import Row, to_conversation
from reasonmed.core.records import JsonlWriter, Question, atomic_path
from reasonmed.method.assemble import VARIANTS, Assembled, Params, instruction, outputs
from reasonmed.method.datacard import Tally

# The Parquet columns: the released ones, then the provenance of each row (assemble.provenance).
PROVENANCE = pa.schema([
    ("id", pa.string()), ("question_id", pa.string()), ("instruction", pa.string()),
    ("input", pa.string()), ("output", pa.string()),
    ("source", pa.string()), ("split", pa.string()), ("source_id", pa.string()),
    ("tier", pa.string()), ("origin", pa.string()), ("chosen_rank", pa.int32()),
    ("agent", pa.string()), ("model", pa.string()), ("temperature", pa.float64()),
    ("source_path_id", pa.string()), ("path_seed", pa.int64()),
    ("path_finish_reason", pa.string()), ("path_markers", pa.list_(pa.string())),
    ("path_answer", pa.string()), ("path_completion_tokens", pa.int32()),
    ("n_paths", pa.int32()), ("n_error", pa.int32()), ("n_correct", pa.int32()),
    ("n_unparsed", pa.int32()), ("ranker_score", pa.int32()), ("history", pa.string()),
    ("verdict", pa.string()), ("verify_reason", pa.string()),
    ("summary_answer", pa.string()), ("gold", pa.string()), ("summary_states_gold", pa.bool_()),
    ("summary_model", pa.string()), ("summary_finish_reason", pa.string()),
    ("cot_words", pa.int32()), ("response_words", pa.int32()),
    ("cot_tokens", pa.int32()), ("response_tokens", pa.int32()),
])


class DatasetWriter:
    """The three variants, streamed: JSONL with the released columns (+ ids) and Parquet with
    provenance. Memory stays at one batch of rows; every file is written atomically.

    Rows of the three variants differ only in `output`, so each string is JSON-encoded once
    and each Parquet batch's provenance columns are built once and shared by the variants.
    """

    def __init__(self, folder: Path, p: Params):
        self.folder, self.p, self.count = folder, p, 0
        self.buf: list[dict] = []
        self.outs: dict[str, list[str]] = {v: [] for v in VARIANTS}

    def __enter__(self) -> DatasetWriter:
        self._stack = contextlib.ExitStack().__enter__()
        self.jsonl, self.parquet, self.trl = {}, {}, {}
        for v in VARIANTS:
            tmp = self._stack.enter_context(atomic_path(self.folder / f"{v}.jsonl"))
            self.jsonl[v] = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
            tmp = self._stack.enter_context(atomic_path(self.folder / "trl" / f"{v}.jsonl"))
            self.trl[v] = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
            tmp = self._stack.enter_context(atomic_path(self.folder / f"{v}.parquet"))
            w = pq.ParquetWriter(tmp, PROVENANCE, compression=self.p.parquet_compression)
            self.parquet[v] = self._stack.enter_context(contextlib.closing(w))
        return self

    def add(self, q: Question, rows: list[dict]) -> None:
        instr = instruction(q, self.p.instruction_header)
        head_q = f', "question_id": {_enc(q.id)}, "instruction": {_enc(instr)}, "input": ""'
        for r in rows:
            cot, response = r.pop("cot"), r.pop("response")
            head = f'{{"id": {_enc(r["id"])}{head_q}, "output": '
            for v, text in outputs(cot, response, self.p.joiner).items():
                self.jsonl[v].write(head + _enc(text) + "}\n")
                # what SFTTrainer takes as is, through the converter the sft stage trains with
                conv = to_conversation(Row(instruction=instr, output=text))
                self.trl[v].write(json.dumps({"id": r["id"], **conv}, ensure_ascii=False) + "\n")
                self.outs[v].append(text)
            self.buf.append({"question_id": q.id, "instruction": instr, "input": "", **r})
            self.count += 1
            if len(self.buf) >= self.p.parquet_batch_rows:
                self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        base = pa.Table.from_pylist(self.buf, schema=PROVENANCE.remove(
            PROVENANCE.get_field_index("output")))
        at = PROVENANCE.get_field_index("output")
        for v in VARIANTS:
            col = pa.array(self.outs[v], pa.string())
            self.parquet[v].write_table(base.add_column(at, PROVENANCE.field(at), col))
            self.outs[v] = []
        self.buf = []

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.flush()
        self._stack.__exit__(*exc)


def _enc(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def write_outputs(results: Iterable[Assembled], out: Path, p: Params, tally: Tally) -> dict[str, int]:
    """Stream every question's outcome into the datasets and accounting.jsonl, tallying it;
    returns the rows written per variant."""
    with DatasetWriter(out / "datasets", p) as ds, JsonlWriter(out / "accounting.jsonl") as acc:
        for x in results:
            tally.add(x)
            acc.write(x.account)
            ds.add(x.question, x.rows)
    return {v: ds.count for v in VARIANTS}

