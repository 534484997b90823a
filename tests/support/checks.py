"""Assertions shared by pipeline tests: the Intercom sandbox's export against the dataset's oracle."""

from __future__ import annotations

from collections import Counter

from tests.support import oracle


def by_issue(export: dict) -> dict[str, dict]:
    conversations = export["conversations"]
    issues = [conversation["custom_attributes"]["asapp_issue_id"] for conversation in conversations]
    duplicates = [issue for issue, count in Counter(issues).items() if count > 1]
    assert not duplicates, f"conversations migrated more than once: {duplicates}"
    return dict(zip(issues, conversations, strict=True))


def expected_thread(conversation: oracle.Conversation, expected: oracle.Expected, admin_emails: set[str]):
    """(created_at, author type, text as a reader sees it) as Intercom should show each message. An agent
    without an Intercom admin is named in the text, and so is a sender ASAPP's feeds do not document."""
    thread = []
    for created, sender, text, rep_id in conversation.messages:
        if sender == "customer":
            thread.append((created, "user", oracle.visible_text(text)))
        elif sender == "bot" or (expected.rep_emails.get(rep_id) or "").lower() in admin_emails:
            thread.append((created, "admin", oracle.visible_text(text)))
        else:
            label = expected.rep_names.get(rep_id) or f"ASAPP agent {rep_id}"
            label += "" if sender in oracle.KNOWN_SENDERS else f", {sender}"
            thread.append((created, "admin", oracle.visible_text(f"[{label}] {text}")))
    return sorted(thread)


def assert_migrated(
    export: dict, expected: oracle.Expected, issues: set[str] | None = None, tagged: bool = True
) -> dict[str, dict]:
    migrated = by_issue(export)
    wanted = issues if issues is not None else set(expected.conversations)
    assert set(migrated) == wanted, {
        "missing": sorted(wanted - set(migrated)),
        "extra": sorted(set(migrated) - wanted),
    }
    admins = {admin["email"].lower(): admin["id"] for admin in export["admins"]}
    contacts = {contact["id"]: contact for contact in export["contacts"]}
    tags = {tag["id"]: tag["name"] for tag in export["tags"]}
    for issue in wanted:
        source, conversation = expected.conversations[issue], migrated[issue]
        thread = oracle.thread_of(conversation)
        assert [created for created, _, _ in thread] == sorted(created for created, _, _ in thread)
        assert sorted(thread) == expected_thread(source, expected, set(admins)), f"conversation {issue}"
        assert conversation["state"] == ("closed" if source.closed else "open"), f"conversation {issue} state"
        (contact_id,) = conversation["contact_ids"]
        assert str(source.customer_id) in contacts[contact_id]["custom_attributes"][
            "asapp_customer_id"
        ].split(",")
        rep_email = (expected.rep_emails.get(str(source.last_rep_id)) or "").lower()
        assert conversation["admin_assignee_id"] == admins.get(rep_email), f"conversation {issue} assignee"
        # Intercom tag names are case-insensitive: segment "billing" joins an existing "Billing" tag.
        assert not tagged or {tags[tag["id"]].lower() for tag in conversation["tags"]} >= {
            name.lower() for name in source.segments
        }
    return migrated


def assert_contacts_and_companies(export: dict, expected: oracle.Expected) -> None:
    companies = {company["id"]: company["company_id"] for company in export["companies"]}
    assert set(companies.values()) == expected.companies
    keys = [
        f"email:{contact['email'].lower()}"
        if contact.get("email")
        else f"customer:{contact['custom_attributes']['asapp_customer_id']}"
        for contact in export["contacts"]
    ]
    assert len(keys) == len(set(keys)), "a contact was created twice"
    for contact, key in zip(export["contacts"], keys, strict=True):
        want = expected.contact_company[key]
        assert [companies[company_id] for company_id in contact["company_ids"]] == ([want] if want else [])


def live(export: dict) -> dict:
    """What the workspace shows, by kind and id: deleted and archived records left out, and `updated_at`,
    which Intercom moves on every write (a restore included), set aside."""

    def kept(records, gone=lambda record: record.get("deleted_at")):
        return {
            record["id"]: {key: value for key, value in record.items() if key != "updated_at"}
            for record in records
            if not gone(record)
        }

    return {
        "contacts": kept(export["contacts"]),
        "companies": kept(export["companies"]),
        "data_attributes": kept(export["data_attributes"], lambda record: record["archived"]),
        "conversation_attributes": kept(export["conversation_attributes"], lambda record: record["archived"]),
        "tags": kept(export["tags"]),
        "conversations": kept(export["conversations"]),
    }
