"""The Kore.ai API: client, typed call errors, reply parsing, host checks, credentials, transport.

The package's names are loaded when first used (PEP 562): the validation stage reads
:mod:`bulkprov.kore.directory` and must not import aiohttp with the client (+0.2 s and +22 MB on every
validate)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers and readers; loaded by __getattr__
    from bulkprov.kore.auth import Credentials
    from bulkprov.kore.client import KoreClient
    from bulkprov.kore.errors import (
        AuthFailed,
        CallFailed,
        OutcomeUnknown,
        RateRefused,
        RequestRefused,
        ServerFailed,
    )
    from bulkprov.kore.replies import CallResult, UserOutcome

_HOMES = {"Credentials": "auth", "KoreClient": "client", "AuthFailed": "errors", "CallFailed": "errors",
          "OutcomeUnknown": "errors", "RateRefused": "errors", "RequestRefused": "errors",
          "ServerFailed": "errors", "CallResult": "replies", "UserOutcome": "replies"}

__all__ = ["AuthFailed", "CallFailed", "CallResult", "Credentials", "KoreClient", "OutcomeUnknown", "RateRefused",
           "RequestRefused", "ServerFailed", "UserOutcome"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
