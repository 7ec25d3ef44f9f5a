"""The one lockstep join over question-ordered streams.

Every artifact of the pipeline is ordered by question (collect's order) and groups its
records by `question_id`, so any number of them can be joined one question at a time in
bounded memory: `join_by_question(questions, paths=..., routes=...)` yields
`(question, [paths of q], [routes of q])` per question. A stream may skip questions; a
record whose question never comes (unknown id, or out of question order) is an error naming
the stream, so no record is silently lost.

    python -c "from reasonmed.core.streams import join_by_question; print(list(join_by_question([])))"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from typing import Any

from reasonmed.core.records import Question


class Aligned:
    """Pulls one question's records at a time from a stream grouped in question order."""

    def __init__(self, name: str, records: Iterable[Any],
                 key: Callable[[Any], str] = lambda r: r.question_id):
        self.name, self.groups = name, groupby(records, key=key)
        self.head = next(self.groups, None)

    def take(self, qid: str) -> list:
        if self.head is None or self.head[0] != qid:
            return []
        out = list(self.head[1])
        self.head = next(self.groups, None)
        return out

    def check_done(self) -> None:
        if self.head is not None:
            raise ValueError(f"{self.name}: records for question {self.head[0]} are not in "
                             f"question order or name a question not in the questions file")


def join_by_question(questions: Iterable[Question], **streams: Iterable[Any]) -> Iterator[tuple]:
    """Yield (question, *[records of each stream for it]) per question, streams in call order."""
    aligned = [Aligned(name, s) for name, s in streams.items()]
    for q in questions:
        yield (q, *(a.take(q.id) for a in aligned))
    for a in aligned:
        a.check_done()
