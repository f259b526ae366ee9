"""What sync reads of a run's settings: a read-only view (see :mod:`bulkprov.send.options`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bulkprov.approvals.options import GuardOptions
from bulkprov.send.options import SendOptions


@runtime_checkable
class SyncOptions(GuardOptions, SendOptions, Protocol):
    """The guards, the sending options, and what sync does with the account's users no roster row names."""

    @property
    def report_strays(self) -> bool: ...
    @property
    def remove_strays(self) -> bool: ...
