"""The content-addressed request cache and the model fingerprints its keys rest on.

Layout: one folder (`exec.cache`, default `.cache/llm`) holding one SQLite file per job
(`<job>.sqlite`: a stage, or one `generate` shard). A job writes only its own file and reads
every other file in the folder read-only (read-through), so concurrent jobs never share a
writable database: that is what makes the cache safe on a shared network filesystem, where
SQLite's locking (and WAL's shared memory) cannot be trusted. A job's own file has a single
writer by construction (DVC runs one stage at a time, Snakemake one job per shard), so it is
opened without file locks (`unix-none`) and with a rollback journal; other files are opened
`immutable` (no locks, no journal) per lookup, and one met mid-write is skipped for that
lookup. Every row carries a checksum, so a torn read is a miss, never a wrong completion.

A key covers everything that can change a completion: backend, model, resolved revision
(a pinned hub commit, or the content digest of a local folder), output-shaping backend
options, messages, sampling parameters, schema, seed and sample index, and what computes
it: the backend's compute fingerprint (reasonmed/core/environment.py: the digest of the code a
request runs through, the versions of the libraries that compute it, the CPU pins) and,
for hf, the thread count. New code or an upgraded library therefore never replays a
completion computed by the old one. Execution options (batch size, concurrency, timeouts,
devices) are not in it.

    python -m reasonmed.llm.cache .cache/llm
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reasonmed.core.params import looks_local

if TYPE_CHECKING:
    from reasonmed.core.params import ModelSpec
    from reasonmed.llm.types import Completion, Request

log = logging.getLogger("reasonmed.llm.cache")

_SCHEMA = ("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
           " finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,"
           " crc TEXT NOT NULL)")


def _crc(key: str, text: str, finish: str, pt: int, ct: int) -> str:
    return hashlib.sha256(json.dumps([key, text, finish, pt, ct]).encode()).hexdigest()[:16]


def _job_name(job: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", job)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    # Writer: its own file, no file locks (the only writer by construction), a rollback
    # journal (no WAL: it needs shared memory) so a killed job's half-written transaction is
    # rolled back when the job runs again. Reader: immutable=1, so SQLite neither locks nor
    # looks at (let alone rolls back) the writer's journal.
    uri = (f"file:{path}?mode=ro&immutable=1" if readonly
           else f"file:{path}?mode=rwc&vfs=unix-none")
    db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None,
                         check_same_thread=False)
    if not readonly:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
    return db


class Cache:
    """Completions of one job (`<folder>/<job>.sqlite`) plus a read-through of the others."""

    def __init__(self, folder: str | os.PathLike, job: str = "default"):
        self.folder = Path(folder)
        if self.folder.suffix == ".sqlite":  # an old single-file setting: use its folder
            self.folder = self.folder.with_suffix("")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.job = _job_name(job)
        self.path = self.folder / f"{self.job}.sqlite"
        self.db = _connect(self.path, readonly=False)

    def _foreign(self) -> list[Path]:
        return [p for p in sorted(self.folder.glob("*.sqlite")) if p != self.path]

    @staticmethod
    def _select(db: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Completion]:
        from reasonmed.llm.types import Completion

        out: dict[str, Completion] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i:i + 500])
            q = ",".join("?" * len(chunk))
            for k, text, fr, pt, ct, crc in db.execute(
                    "SELECT key, text, finish_reason, prompt_tokens, completion_tokens, crc"
                    f" FROM completions WHERE key IN ({q})", chunk):
                if crc == _crc(k, text, fr, pt, ct):  # a torn read never becomes a completion
                    out[k] = Completion(text, fr, pt, ct, cached=True)
        return out

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        out = self._select(self.db, keys)
        missing = [k for k in keys if k not in out]
        for p in self._foreign() if missing else []:
            # Opened per lookup: immutable connections would not see rows written later.
            try:
                db = _connect(p, readonly=True)
                try:
                    out.update(self._select(db, missing))
                finally:
                    db.close()
            except sqlite3.DatabaseError as e:  # another job mid-write: skip it this time
                log.debug("cache: read of %s failed: %s", p.name, e)
                continue
            missing = [k for k in missing if k not in out]
            if not missing:
                break
        return out

    def put_many(self, rows: Sequence[tuple[str, Completion]]) -> None:
        """Commit completions in one transaction; failed ones are never cached."""
        ok = [(k, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens,
               _crc(k, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens))
              for k, c in rows if c.finish_reason != "error"]
        if not ok:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?)", ok)

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self.db.close()


# --- model fingerprints ---------------------------------------------------------------

HUB_SHA = re.compile(r"^[0-9a-f]{40}$")


def _file_sha(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def folder_digest(folder: str | os.PathLike, memo_dir: str | os.PathLike | None = None) -> str:
    """sha256 over a local model folder's file names and contents.

    Every byte counts (a retrained checkpoint with the same config and shard sizes gets a
    new digest). Each file's digest is memoised by (path, size, mtime) in `memo_dir`, so a
    15 GB checkpoint is read once; a rewritten file has a new mtime and is hashed again.
    """
    folder = Path(folder).resolve()
    memo_file = None
    memo: dict[str, list] = {}
    if memo_dir is not None:
        memo_file = Path(memo_dir) / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:16]}.json"
        with contextlib.suppress(OSError, ValueError):
            memo = json.loads(memo_file.read_text())
    h, fresh, changed = hashlib.sha256(), {}, False
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(f.relative_to(folder))
        if rel.startswith(".") or "/." in rel:  # editor swap files, .cache/ of hub snapshots
            continue
        st = f.stat()
        stamp = [st.st_size, st.st_mtime_ns]
        got = memo.get(rel)
        if got is not None and got[:2] == stamp:
            digest = got[2]
        else:
            digest, changed = _file_sha(f), True
        fresh[rel] = [*stamp, digest]
        h.update(f"{rel}\0{digest}\0".encode())
    if memo_file is not None and (changed or set(fresh) != set(memo)):
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(fresh))
        os.replace(tmp, memo_file)
    return "sha256:" + h.hexdigest()[:16]


class UnpinnedModel(SystemExit):
    pass


def resolve_revision(spec: ModelSpec, memo_dir: str | os.PathLike | None = None) -> str:
    """The revision that goes into cache keys and records, or a clear error.

    local folder   content digest ("sha256:...")
    hub id         the pinned 40-hex commit in `revision`; a branch, a tag or no revision
                   is refused: the hub can move under an unchanged params.yaml, and a cache
                   keyed on "main" would replay the old checkpoint's outputs
    API model      "api:<model>" (a hosted model cannot be pinned; dated snapshot names,
                   e.g. gpt-4o-2024-08-06, are the closest thing)
    """
    if spec.backend == "fake":  # no weights: the spec's options are in the key already
        return f"fake:{spec.model}"
    if spec.backend == "openai":
        return f"api:{spec.model}" + (f"@{spec.revision}" if spec.revision else "")
    p = Path(spec.model).expanduser()
    if p.is_dir():
        return folder_digest(p, memo_dir)
    if looks_local(spec.model):
        from reasonmed.core.params import did_you_mean

        parent = p.parent if p.parent.is_dir() else None
        hint = did_you_mean(str(p), {str(x) for x in parent.iterdir()}) if parent else ""
        raise UnpinnedModel(f"model folder not found: {spec.model}{hint}")
    if spec.revision and HUB_SHA.match(spec.revision):
        return spec.revision
    what = f"revision {spec.revision!r} is a branch or tag" if spec.revision else "no revision"
    raise UnpinnedModel(
        f"hub model {spec.model} has {what}: pin a commit (revision: <40-hex sha>), e.g. "
        f"python -c \"from huggingface_hub import model_info; print(model_info('{spec.model}').sha)\"")


def request_key(spec: ModelSpec, revision: str, req: Request, compute: str) -> str:
    """`compute`: what computes the completion besides the request (llm.compute_key)."""
    payload = {
        "backend": spec.backend, "model": spec.model, "revision": revision, "compute": compute,
        "options": spec.options, "messages": req.messages, "temperature": req.temperature,
        "top_p": req.top_p, "max_tokens": req.max_tokens, "seed": req.seed,
        "sample": req.sample, "schema": req.schema,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


if __name__ == "__main__":  # a summary of a cache folder: files and rows
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/llm")
    total, t0 = 0, time.monotonic()
    for f in sorted(root.glob("*.sqlite")):
        n = _connect(f, readonly=True).execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        total += n
        print(f"{f.name}\t{n}")
    print(f"total\t{total}\t({time.monotonic() - t0:.2f} s)")
