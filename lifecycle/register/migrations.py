"""Schema migrations for the register. Each is a named function, never edited once released:
a later release adds a new one, so an existing ``data/`` opens without losing anything."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("policy_lifecycle")


@migrations()
def m001_register(db: Database) -> None:
    db.table("policies").create(
        {
            "id": str, "title": str, "school": str, "approver": str,
            "review_interval_months": int, "audiences": str, "reminder_audience": str,
            "related": str, "source": str, "created_at": str, "updated_at": str,
        },
        pk="id",
    )
    db.table("versions").create(
        {
            "id": int, "policy_id": str, "number": int, "sha256": str, "adopted": str,
            "body": str, "recorded_at": str,
        },
        pk="id", foreign_keys=[("policy_id", "policies", "id")],
    )
    db.table("versions").create_index(["policy_id", "number"], unique=True)
    db.table("review_cycles").create(
        {"id": int, "policy_id": str, "number": int, "opened": str, "due": str, "closed": str},
        pk="id", foreign_keys=[("policy_id", "policies", "id")],
    )
    db.table("review_cycles").create_index(["policy_id", "number"], unique=True)
    db.table("reviews").create(
        {
            "id": int, "policy_id": str, "cycle_id": int, "reviewed_on": str, "next_due": str,
            "version_number": int, "text_changed": int, "notes": str, "recorded_at": str,
        },
        pk="id",
        foreign_keys=[("policy_id", "policies", "id"), ("cycle_id", "review_cycles", "id")],
    )
    db.table("people").create(
        {
            "id": int, "name": str, "email": str, "email_key": str, "roles": str,
            "start_date": str, "end_date": str, "created_at": str, "updated_at": str,
        },
        pk="id",
    )
    db.table("people").create_index(["email_key"], unique=True)
    db.table("audit").create(
        {"id": int, "at": str, "action": str, "subject": str, "detail": str}, pk="id"
    )
    db.table("audit").create_index(["subject"])
    # The audit log is evidence: append-only, enforced by the database itself.
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_no_{event.lower()} BEFORE {event} ON audit "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


@migrations()
def m002_outbox(db: Database) -> None:
    """Every message decided, before any attempt to send it; the record the rules read."""
    db.table("messages").create(
        {
            "id": int, "key": str, "kind": str, "policy_id": str, "period": str, "stage": str,
            "person_key": str, "to_name": str, "to_email": str, "office_copy": int,
            "eligible": str, "status": str, "message_id": str, "decided_at": str,
            "attempts": int, "next_attempt_at": str, "sent_at": str, "last_error": str,
        },
        pk="id", not_null={"key", "kind", "status", "decided_at"},
        defaults={"attempts": 0, "office_copy": 0},
    )
    db.table("messages").create_index(["key"], unique=True)
    db.table("messages").create_index(["status", "next_attempt_at"])
    db.table("messages").create_index(["policy_id"])


@migrations()
def m003_confirmations(db: Database) -> None:
    """Read-and-confirm evidence, and the office's login."""
    db.table("confirmations").create(
        {
            "id": int, "person_key": str, "policy_id": str, "version": int, "sha256": str,
            "period": str, "confirmed_at": str, "address": str,
        },
        pk="id", not_null={"person_key", "policy_id", "version", "sha256", "confirmed_at"},
    )
    db.table("confirmations").create_index(["person_key", "policy_id", "version"], unique=True)
    db.table("admin").create({"id": int, "password_hash": str, "updated_at": str}, pk="id")


@migrations()
def m004_meetings(db: Database) -> None:
    """Meetings of the approving bodies, drafts, and approvals bound to a meeting and a text."""
    db.table("meetings").create(
        {
            "id": int, "body": str, "day": str, "time": str, "name": str, "cancelled": int,
            "sequence": int, "created_at": str, "updated_at": str,
        },
        pk="id", not_null={"body", "day", "name"}, defaults={"cancelled": 0, "sequence": 0},
    )
    db.table("meetings").create_index(["body", "day"])
    db.table("drafts").create(
        {
            "id": int, "policy_id": str, "number": int, "sha256": str, "body": str,
            "note": str, "file_name": str, "uploaded_at": str, "status": str, "closed_at": str,
        },
        pk="id", foreign_keys=[("policy_id", "policies", "id")],
        not_null={"policy_id", "number", "sha256", "body", "status"},
    )
    db.table("drafts").create_index(["policy_id", "number"], unique=True)
    reviews = db.table("reviews")
    for column in ("body", "minute", "sha256", "recorded_by"):
        reviews.add_column(column, str)
    reviews.add_column("meeting_id", int)


@migrations()
def m005_school_year(db: Database) -> None:
    """Catalogue entries and publishing on policies; confirmations that count per school
    year; which policies a person opened from their annual reminder's page."""
    policies = db.table("policies")
    policies.add_column("statutory", str)
    policies.add_column("publish", int, not_null_default=1)
    policies.add_column("confirm", str)
    policies.add_column("summary", str)
    db.execute("UPDATE policies SET confirm = CASE WHEN reminder_audience LIKE '%\"staff\"%'"
               " THEN 'yearly' ELSE 'per-version' END")
    confirmations = db.table("confirmations")
    confirmations.add_column("school_year", str)
    # the default school year (from 1 September); earlier confirmations keep their version
    db.execute("UPDATE confirmations SET school_year = CASE"
               " WHEN substr(confirmed_at, 6, 5) >= '09-01'"
               " THEN substr(confirmed_at, 1, 4) || '-' ||"
               "   substr('0' || ((CAST(substr(confirmed_at, 1, 4) AS INTEGER) + 1) % 100), -2)"
               " ELSE CAST(CAST(substr(confirmed_at, 1, 4) AS INTEGER) - 1 AS TEXT) || '-' ||"
               "   substr(confirmed_at, 3, 2) END")
    db.execute("DROP INDEX idx_confirmations_person_key_policy_id_version")
    confirmations.create_index(["person_key", "policy_id", "version", "school_year"],
                               unique=True)
    db.table("openings").create(
        {"id": int, "person_key": str, "policy_id": str, "version": int, "school_year": str,
         "opened_at": str},
        pk="id", not_null={"person_key", "policy_id", "version", "school_year", "opened_at"},
    )
    db.table("openings").create_index(["person_key", "school_year"])
    db.table("openings").create_index(["person_key", "policy_id", "version", "school_year"],
                                      unique=True)


@migrations()
def m006_personal_data(db: Database) -> None:
    """Each person's opaque reference for their links (links carry no address), and the
    subject of each message sent, for a subject access request."""
    from lifecycle.values.model import new_ref

    people = db.table("people")
    people.add_column("ref", str)
    for (person_id,) in db.execute("SELECT id FROM people").fetchall():
        db.execute("UPDATE people SET ref = ? WHERE id = ?", [new_ref(), person_id])
    people.create_index(["ref"], unique=True)
    db.table("messages").add_column("subject", str)


@migrations()
def m007_outbox_indexes(db: Database) -> None:
    """Delivery reads pending messages in order a page at a time; evaluation reads the
    messages of the open periods only (recent ones, and the groups that stay open)."""
    messages = db.table("messages")
    messages.create_index(["status", "id"])
    messages.create_index(["decided_at"])
    messages.create_index(["kind", "policy_id", "period"])


@migrations()
def m008_one_status_index(db: Database) -> None:
    """The status index of m002 is a prefix of m007's (status, id), which serves every read
    by status; each message's status changes twice as it is sent, and every index on it
    costs a write each time."""
    db.execute("DROP INDEX IF EXISTS idx_messages_status_next_attempt_at")


@migrations()
def m009_mail_pace(db: Database) -> None:
    """Delivery counts what went in the last minute and 24 hours (the mail provider's
    limits), and records each pause: a refusal to sign in, or the provider's throttling."""
    db.table("messages").create_index(["sent_at"])
    db.table("mail_pauses").create(
        {"id": int, "at": str, "until": str, "cause": str, "reason": str}, pk="id")
    db.table("mail_pauses").create_index(["at"])


@migrations()
def m010_not_applicable(db: Database) -> None:
    """Statutory entries the school has marked not applicable here, with its reason."""
    db.table("not_applicable").create(
        {"entry": str, "reason": str, "marked_at": str, "marked_by": str}, pk="entry")
