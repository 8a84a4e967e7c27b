"""A bounded, process-wide memo of grades.

A grade is a pure function of (text, gold, dataset, context), and some work grades the same
text many times: a compression sweep checks the same writer CoT for a leaked answer, and grades its
overthinking prefixes, once in every run of the sweep. Grades that failed (a timeout, a dead
worker) are never remembered, so a retry grades again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

from hawkeye_bench.grading.context import AnswerContext
from hawkeye_bench.grading.grade import Grade

#: Grades kept, most recently used first out; a key is a 20-byte digest, so this bounds memory.
MAX_ENTRIES = 20_000


class GradeMemo:
    """Thread-safe least-recently-used map from (text, gold, dataset, context) to a successful
    Grade."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._grades: OrderedDict[bytes, Grade] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(
        text: str, gold: str, dataset: str | None, context: AnswerContext | None = None
    ) -> bytes:
        digest = hashlib.blake2b(digest_size=20)
        context = context or AnswerContext()
        for part in (text, gold, dataset or "", context.question or "", str(context.stopped)):
            encoded = part.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
        return digest.digest()

    def get(self, key: bytes) -> Grade | None:
        with self._lock:
            grade = self._grades.get(key)
            if grade is None:
                self.misses += 1
                return None
            self._grades.move_to_end(key)
            self.hits += 1
            return replace(grade)  # a copy: callers may change the one they get

    def put(self, key: bytes, grade: Grade) -> None:
        if grade.error is not None or self.max_entries == 0:
            return
        with self._lock:
            self._grades[key] = grade
            self._grades.move_to_end(key)
            while len(self._grades) > self.max_entries:
                self._grades.popitem(last=False)

    def __len__(self) -> int:
        return len(self._grades)


#: Shared by every Grader of the process (grades do not depend on the grader).
SHARED_MEMO = GradeMemo()
