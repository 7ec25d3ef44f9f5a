"""Mapped columns no record holds: a `fields:` mapping (collect source, benchmark, external
dataset) that names a column absent from every record of its file is a typo, and the stage
stops naming the mapped field, the column and the closest column the records have -- instead
of rejecting every record by the field it feeds ("answer: missing x308").

A column that only some records lack is data, not a typo (the records say so one by one).
What a typo costs decides how it is reported:
- a column a record cannot do without (question, answer, an options column, and id, source
  or split when mapped) stops the stage once the file is read;
- an optional one (context, answer_text, meta, an external dataset's reasoning) is a warning:
  one mapping may serve several files, and a file without, say, a `context` column is usual;
- the trailing columns of an option-column list absent from every record are padding (a
  4-option file read with `[opa, opb, opc, opd, ope]`); one absent before a present one is
  a gap, so a typo.

    python -c "from reasonmed.ingest.columns import suggest; print(suggest({'answer': 1}, 'anwser'))"
"""

from __future__ import annotations

import logging
from typing import Any

from reasonmed.core.params import did_you_mean
from reasonmed.ingest.specs import Fields

log = logging.getLogger("reasonmed.ingest")
_KEYS_CAP = 500  # distinct top-level column names remembered for the suggestion


def holds(rec: dict, path: str) -> bool:
    """Whether `rec` has `path` (a flat key that contains dots wins; `a.b` reaches in)."""
    if path in rec:
        return True
    cur: Any = rec
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False
        cur = cur[part]
    return True


def suggest(rec: dict, path: str, top: set[str] | None = None) -> str:
    """` (did you mean 'x'?)` for `path` among the columns of `rec` at the level where the
    path stops (top-level: also among `top`), or ''."""
    parts, cur, prefix = path.split("."), rec, ""
    for i, part in enumerate(parts):
        if not isinstance(cur, dict):
            return ""
        if part not in cur:
            keys = set(map(str, cur)) | ((top or set()) if i == 0 else set())
            return did_you_mean(path, {prefix + k for k in keys})
        cur, prefix = cur[part], prefix + part + "."
    return ""


class ColumnWatch:
    """Which mapped columns some readable record holds; `finish` reports the rest."""

    def __init__(self, roles: list[tuple[str, str, str]]):
        # (role as written in the mapping, path, kind: required | optional | option)
        self.roles, self.pending = roles, list(roles)
        self.n, self.sample, self.top = 0, None, set()

    @classmethod
    def of(cls, f: Fields) -> ColumnWatch:
        roles = [("question", f.question, "required"), ("answer", f.answer, "required")]
        if isinstance(f.options, list):
            roles += [(f"options[{i}]", c, "option") for i, c in enumerate(f.options)]
        elif f.options is not None:
            roles.append(("options", f.options, "required"))
        roles += [(k, getattr(f, k), "required") for k in ("id", "source", "split")
                  if getattr(f, k) is not None]
        roles += [(k, getattr(f, k), "optional") for k in ("context", "answer_text")
                  if getattr(f, k) is not None]
        roles += [(f"meta.{k}", p, "optional") for k, p in f.meta_paths().items()]
        return cls(roles)

    def see(self, rec: dict) -> None:
        self.n += 1
        if self.sample is None:
            self.sample = rec
        if self.pending:
            self.pending = [r for r in self.pending if not holds(rec, r[1])]
            if self.pending and len(self.top) < _KEYS_CAP:
                self.top.update(map(str, rec))

    def _absent(self) -> tuple[list, list]:
        """(typos that stop the stage, typos that warn)."""
        gone = {r[0] for r in self.pending}
        opts = [r for r in self.roles if r[2] == "option"]
        last = max((i for i, r in enumerate(opts) if r[0] not in gone), default=-1)
        stop, warn = [], []
        for role, path, kind in self.pending:
            if kind == "required" or (kind == "option" and (int(role[8:-1]) < max(last, 2))):
                stop.append((role, path))
            elif kind == "optional":
                warn.append((role, path))
        return stop, warn

    def finish(self, where: str) -> None:
        """Stop (or warn) naming every mapped column none of the records held."""
        if not self.pending or not self.top:  # no record, or only empty ones: no mapping to fault
            return
        stop, warn = self._absent()

        def line(role: str, path: str) -> str:
            return (f"`fields.{role}` names column '{path}', which none of its {self.n} records "
                    f"holds{suggest(self.sample, path, self.top)}")
        for role, path in warn:
            log.warning("%s: %s (nothing is read from it)", where, line(role, path))
        if stop:
            cols = ", ".join(sorted(self.top)[:20]) or "(none)"
            raise SystemExit(f"{where}: " + "; ".join(line(r, p) for r, p in stop) +
                             f". Its records' columns: {cols}. Fix the `fields:` mapping")
