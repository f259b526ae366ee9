"""The guide's table of API facts (docs/api-facts.md): every fact is documented (with its page) or assumed (with what
bulkprov does if it is wrong)."""

from __future__ import annotations

import pytest

from bulkprov.kore import facts
from tests.conftest import guide


def test_every_assumption_says_how_bulkprov_behaves_if_it_is_wrong():
    assumed = [f for f in facts.FACTS if not f.documented]
    assert assumed, "the table must own up to its assumptions"
    for fact in assumed:
        sentence = fact.if_wrong.strip()
        assert len(sentence.split()) >= 8 and sentence.endswith("."), f"no degradation sentence: {fact.fact}"


def test_every_documented_fact_names_its_page():
    for fact in facts.FACTS:
        if fact.documented:
            assert not fact.if_wrong, fact.fact
            assert all(page in facts.PAGES for page in fact.page.split("; ")), fact.page


def test_the_readme_does_not_call_assumptions_documented():
    readme = guide("api-facts.md")
    assert "documented budget" not in readme and 'documented "Rate limit' not in readme
    assert facts.markdown_table() in readme


def _verdict(result) -> str:
    from bulkprov.kore import CallResult, OutcomeUnknown, RequestRefused

    if isinstance(result, RequestRefused):
        return "refused"
    if isinstance(result, OutcomeUnknown):
        return "maybe-applied"
    assert isinstance(result, CallResult), result
    failed = [k for k, o in result.outcomes.items() if not o.ok]
    if not result.unconfirmed:
        assert set(result.outcomes) == {"a@x.com", "b@x.com"}
        return "named-failed" if failed else "success"
    return "named-checked" if failed else "checked"


@pytest.mark.parametrize("reply", facts.WRITE_REPLIES, ids=lambda r: r.shape)
def test_every_write_reply_of_the_readme_becomes_what_it_says(reply):
    """The guide's table of write replies is the rule bulkprov runs: each example, through ``classify``."""
    from bulkprov.kore.replies import classify

    result = classify(reply.status, {}, reply.body, op="add", requested=[("a@x.com",), ("b@x.com",)])
    assert _verdict(result) == reply.becomes
    assert facts.write_replies_table() in guide("api-facts.md")
