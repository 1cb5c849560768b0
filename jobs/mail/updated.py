"""The policy updated notice: to everyone in the policy's audience, once, when a review
adopts a changed text. It quotes the changed passages (cut to their sentences) and the
reviewers' notes, attaches the new text and a Word document of the tracked changes, and asks
them to read and confirm through a personal link. Its chasers (``chase``) ask again whoever
has not confirmed. The new policy notice is its sibling: to those asked to read a policy
adopted after this school year's annual reminder went, with the text attached."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from documents.compare import bracketed
from lifecycle.actions.confirmations import Ack, make_token
from lifecycle.register.outbox import Message
from lifecycle.values.model import Kind, PolicyRecord

from .cache import RunCache
from .content import Content, about_policy

MAX_CHANGES = 12


def content(message: Message, run: RunCache, now: datetime) -> Content:
    """The notice, or (a chaser) the request to confirm it again."""
    today = now.date()
    policy = run.policy(message.policy_id)
    token = make_token(run.secret, Ack(message.person_key, policy.id, policy.version,
                                       message.period), run.ref(message.person_key))
    context = about_policy(message, policy, run.base_url) | {
        "ack_link": f"{run.base_url}/ack/{token}"}
    attached = [run.document_part(policy, today)]
    if message.kind == Kind.CHASE:
        ladder = run.config.chase_after_days
        context["final"] = bool(ladder) and message.stage == f"chase-{ladder[-1]}"
        return Content("chase", context, attached)
    if policy.version == 1:          # a policy new since this year's annual reminder
        return Content("new_policy", context, attached)
    context |= run.memo(("update notes", policy.id, policy.version),
                        lambda: _what_changed(policy, run, today))
    return Content("updated", context, [*attached, run.changes(policy, today)[1]])


def _what_changed(policy: PolicyRecord, run: RunCache, today: date) -> dict[str, Any]:
    """The changed passages and the reviewers' notes: the same for everyone told of this
    version, so worked out once."""
    comparison, _ = run.changes(policy, today)
    quotes = comparison.quoted(excerpts=True)
    notes = [r.notes for r in run.register.policies.reviews(policy.id)
             if r.version == policy.version and r.text_changed and r.notes]
    return {"summary": comparison.summary(), "quotes": quotes[:MAX_CHANGES],
            "quotes_text": [(section, bracketed(pieces))
                            for section, pieces in quotes[:MAX_CHANGES]],
            "more_changes": max(0, len(quotes) - MAX_CHANGES), "notes": notes[-1:],
            "changes_link": f"{run.base_url}/policies/{policy.id}/v{policy.version}/changes"}
