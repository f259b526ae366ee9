"""A user's key, as the API knows a user: the email or the orgUserId, compared in one normalised form.

The ground floor of the key: the validator's duplicate check, the client's matching of replies to
requests (``kore/`` knows keys, not rows), the ledger and sync's diff all compare through
:func:`match_key`, carried in :class:`UserKey`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Invisible characters that never belong at either end of a key (zero-width, BOM, bidi marks).
_EDGE_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def match_key(text: str) -> str:
    """The one comparison form of an email or orgUserId: NFKC, trimmed, case-folded.

    NFKC turns full-width letters, digits and ``＠`` into their plain forms (what a Japanese or
    Korean keyboard types when the input mode is left on), so ``ｊａｎｅ＠ｅｘａｍｐｌｅ.ｃｏｍ`` and
    ``Jane@Example.com`` are one user.
    """
    return unicodedata.normalize("NFKC", text).strip().strip(_EDGE_INVISIBLE).strip().casefold()



@dataclass(frozen=True, slots=True)
class UserKey:
    """How the API knows a user: the email (preferred) or the orgUserId, as written and normalised."""

    email: str = ""
    org_user_id: str = ""

    @property
    def by_email(self) -> bool:
        return bool(self.email)

    @property
    def value(self) -> str:
        """The identifier sent to the API: the email, else the orgUserId."""
        return self.email or self.org_user_id

    @property
    def id(self) -> str:
        """The normalised identity (ledger, matching, duplicates)."""
        return match_key(self.value)

    @property
    def email_id(self) -> str:
        return match_key(self.email) if self.email else ""

    @property
    def org_id(self) -> str:
        return match_key(self.org_user_id) if self.org_user_id else ""

    def __str__(self) -> str:
        return self.value
