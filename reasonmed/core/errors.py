"""The errors that stop a stage with one clear line (reasonmed/core/stage.py `entry`), no traceback.

    python -c "from reasonmed.core.errors import FatalBackendError; print(FatalBackendError('x', 401).status)"
"""

from __future__ import annotations


class FatalBackendError(RuntimeError):
    """A failure no retry can mend (authentication, permission, unknown model, invalid
    request): the stage stops at the first one with this message, no traceback."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class BudgetExceeded(RuntimeError):
    """More requests failed than `exec.max_failure_rate` allows."""
