"""Failed requests: recorded, counted, budgeted; never written as data.

A completion that failed (a backend error after the backend's own retries: a 5xx storm, a
timeout, a malformed body) is never turned into a path, verdict, score, refinement,
summary or prediction. It goes to the stage's `failures/failures.jsonl` (role, item, error class,
message: no secrets, the backends scrub them), into its stats, and, never having been
cached, it is asked again on the next run. The failure budget (`exec.max_failure_rate`,
default 0: any failure fails the stage) decides whether the stage may finish with holes:
over budget it exits non-zero before writing its outputs, with one message naming the
role, the error classes and counts, and how to resume. Errors no retry can mend
(authentication, permission, unknown model, invalid request) never reach the budget: the
backend raises FatalBackendError at the first one.

    python -c "from reasonmed.core.failures import Failures; print(Failures('verify').summary())"
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reasonmed.core.errors import BudgetExceeded
from reasonmed.core.records import JsonlWriter, Record

# Inside a folder of its own, which is the DVC out: a run without failures leaves the file
# empty, and DVC warns about an out that is an empty file ("'...' is empty"), not about a
# folder holding one.
FAILURES = Path("failures/failures.jsonl")


class Failure(Record):
    stage: str
    role: str
    item: str  # the record the request was for (a path id, a row id, ...)
    kind: str  # error class: http_503, timeout, connection, malformed, content_filter, ...
    message: str


class Failures:
    """One stage's failed requests (per role)."""

    def __init__(self, stage: str):
        self.stage, self.items, self.requests = stage, [], Counter()

    def add(self, role: str, item: str, completion) -> None:
        self.items.append(Failure(stage=self.stage, role=role, item=item,
                                  kind=completion.error_kind or "error",
                                  message=(completion.error or "")[:300]))

    def __len__(self) -> int:
        return len(self.items)

    def extend(self, failures: list[Failure]) -> None:
        self.items.extend(failures)

    def summary(self) -> dict:
        """{failed, failed_by_role: {role: {failed, by_kind}}} (deterministic: for stats)."""
        by_role: dict[str, Counter] = {}
        for f in self.items:
            by_role.setdefault(f.role, Counter())[f.kind] += 1
        return {"failed": len(self.items),
                "failed_by_role": {r: {"failed": sum(c.values()), "by_kind": dict(sorted(c.items()))}
                                   for r, c in sorted(by_role.items())}}

    def check(self, max_rate: float, where: str, ledger_rows: list[dict]) -> None:
        """Raise BudgetExceeded when a role's failed share of its requests (ledger rows) is
        over `max_rate`."""
        requests = Counter()
        for r in ledger_rows:
            requests[r["role"]] += r.get("requests", 0)
        for role, s in self.summary()["failed_by_role"].items():
            n = max(requests[role], s["failed"])
            if s["failed"] / n > max_rate:
                kinds = ", ".join(f"{k} x {v}" for k, v in s["by_kind"].items())
                raise BudgetExceeded(
                    f"{self.stage}: {s['failed']} of {n} requests to role {role} failed "
                    f"({100 * s['failed'] / n:.1f}% > budget {100 * max_rate:g}%, "
                    f"exec.max_failure_rate): {kinds}. Failed requests are not cached: fix the "
                    f"cause and run `dvc repro` (completed requests come back from the cache). "
                    f"Details: {where}")

    def write(self, path: Path) -> None:
        with JsonlWriter(path) as w:
            w.write_all(self.items)

    def settle(self, out: Path, max_rate: float, ledger_rows: list[dict]) -> None:
        """The stage tail's part: write out/failures/failures.jsonl, then enforce the budget.
        Call it inside the `with` of the stage's writers, so over budget no output is renamed
        into place (and DVC records nothing: the next `dvc repro` runs the stage again)."""
        self.write(out / FAILURES)
        self.check(max_rate, str(out / FAILURES), ledger_rows)
