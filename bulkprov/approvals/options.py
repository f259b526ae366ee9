"""What the gate and the audit trail read of a run's settings: read-only views (see :mod:`bulkprov.send.options`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bulkprov.send.options import SendOptions

if TYPE_CHECKING:
    from bulkprov.approvals.policy import Account


@runtime_checkable
class GuardOptions(Protocol):
    """The guards' limits (the account's policy, tightened by a profile) and a front end's overrides of them."""

    @property
    def max_deletes(self) -> int: ...
    @property
    def max_delete_percent(self) -> float: ...
    @property
    def builder_confirm(self) -> int: ...
    @property
    def protected(self) -> Sequence[str]: ...
    @property
    def allow_deletes(self) -> int | None: ...
    @property
    def allow_builder(self) -> int | None: ...
    @property
    def allow_role_removals(self) -> int | None: ...
    @property
    def allow_protected(self) -> int | None: ...


@runtime_checkable
class GateOptions(GuardOptions, SendOptions, Protocol):
    """A run as the gate and the audit trail see it: what, on which account, by whom (its keys are looked up
    with :mod:`bulkprov.send` when a guard needs them)."""

    @property
    def command(self) -> str: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def input_name(self) -> str: ...
    @property
    def upload_id(self) -> str: ...
    @property
    def webhook(self) -> str | None: ...
    @property
    def account(self) -> Account | None: ...  # host + client id (None: not known yet)
    @property
    def approvals(self) -> Any: ...  # flow.Approvals: who runs, who may approve (None: the library's caller)
