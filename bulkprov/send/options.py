"""What sending reads of a run's settings: a read-only view (``jobs.JobSettings`` is the one object that has it).

A stage below ``jobs/`` names the options it uses as a :class:`~typing.Protocol` of read-only properties
instead of taking ``settings: Any``: the type says what it reads, and that it never changes them (a run's
settings are made once, by ``config.job_settings``, and replaced, never edited, while it runs).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SendOptions(Protocol):
    """How requests go to the account: where, how many at once, how fast, how often again, how long."""

    @property
    def host(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def rate(self) -> str: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def rate_wait_cap(self) -> float | None: ...
    @property
    def breaker_window(self) -> int: ...
    @property
    def send_email(self) -> bool: ...
