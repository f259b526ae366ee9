"""The Kore.ai API: client, typed call errors, reply parsing, host checks, credentials, transport."""

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

__all__ = ["AuthFailed", "CallFailed", "CallResult", "Credentials", "KoreClient", "OutcomeUnknown", "RateRefused",
           "RequestRefused", "ServerFailed", "UserOutcome"]
