"""What a correct migration of a dataset directory looks like, computed from the files alone.

Deliberately independent of the package under test: plain Python over the JSON Lines, following
ASAPP's documented rules (only partitions with _SUCCESS; per unique key the latest instance_ts,
then the latest partition), so that a bug in the pipeline's DuckDB SQL cannot hide in both.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


def instant(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rows(data: Path, feed: str, since: datetime | None = None, until: datetime | None = None) -> Iterator[tuple]:
    """(order, row) for every row of the complete partitions; order sorts later deliveries last."""
    for directory in sorted((data / feed / "version=1" / "format=jsonl").glob("dt=*/hr=*/mi=*")):
        if not (directory / "_SUCCESS").exists():
            continue
        date, hour, minute = (part.split("=")[1] for part in directory.parts[-3:])
        start = datetime.fromisoformat(f"{date}T{hour}:{minute}:00+00:00")
        if (since and start < since) or (until and start >= until):
            continue
        for path in sorted(directory.iterdir()):
            if path.name == "_SUCCESS":
                continue
            with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict):
                        yield (str(directory), path.name, number), row


EARLIEST = datetime.min.replace(tzinfo=UTC)


def latest(data: Path, feed: str, key, when: str | None = "instance_ts") -> dict:
    """Per key, the row with the latest `when`, then the latest delivery."""
    best: dict = {}
    for order, row in rows(data, feed):
        identity = key(row)
        rank = ((instant(row.get(when)) if when else None) or EARLIEST, order)
        if identity not in best or rank > best[identity][0]:
            best[identity] = (rank, row)
    return {identity: row for identity, (_rank, row) in best.items()}


def journey_state(data: Path) -> dict[int, dict]:
    """Per issue, what the real-time journey events say: the latest accumulated state and the messages."""
    path = data / "_realtime" / "events.jsonl"
    issues: dict[int, dict] = {}
    if not path.exists():
        return issues
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        meta, details = event.get("meta_data") or {}, event.get("details") or {}
        if event.get("name") != "com.asapp.event.journey" or not meta.get("issue_id"):
            continue
        issue = issues.setdefault(int(meta["issue_id"]), {"metadata": {}, "messages": {}})
        state = issue["metadata"]
        rep_id = (event.get("data") or {}).get("rep_id")
        state.update({key: value for key, value in {
            "customer_id": (event.get("data") or {}).get("customer_id"), "last_rep_id": rep_id,
            "conversation_end_ts": details.get("issue_ended_ts"),
            "company_segments": "[" + ",".join(meta["company_segments"]) + "]" if meta.get("company_segments") else None,
        }.items() if value is not None})
        message = details.get("message")
        if event.get("event_type") == "TEXT_MESSAGE" and message:
            issue["messages"][message["event_uuid"]] = {**message, "utterance": message["text"]}
    return {issue_id: {"metadata": issue["metadata"], "messages": list(issue["messages"].values())}
            for issue_id, issue in issues.items()}


@dataclass
class Conversation:
    issue_id: str
    customer_id: int
    closed: bool
    last_rep_id: str | None
    segments: list[str]
    messages: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    """(created_at, sender_type, text, rep_id) in order."""


@dataclass
class Expected:
    conversations: dict[str, Conversation]
    contact_company: dict[str, str | None]
    """lower-cased email (or customer:<id>) → company_external_id"""
    rep_emails: dict[str, str | None]
    rep_names: dict[str, str]
    companies: set[str]


def expected(data: Path) -> Expected:
    metadata = latest(data, "convos_metadata", lambda row: int(row["issue_id"]))
    utterances = latest(data, "utterances",
                        lambda row: (instant(row["created_ts"]), int(row["issue_id"]), row.get("sender_id")))
    customers = latest(data, "customers", lambda row: int(row["customer_id"]), when=None)
    companies = latest(data, "companies", lambda row: row["company_external_id"], when=None)
    reps = latest(data, "reps", lambda row: str(row["rep_id"]), when="created_ts")
    emails = latest(data, "rep_attributes", lambda row: (str(row["rep_id"]), row["attribute_name"]), when="created_ts")

    journeys = journey_state(data)
    for issue_id, journey in journeys.items():
        metadata[issue_id] = {**metadata.get(issue_id, {}), **journey["metadata"]}
        for message in journey["messages"]:
            utterances[(instant(message["created_ts"]), issue_id, message["sender_id"])] = message
    threads: dict[int, list] = defaultdict(list)
    for (created, issue_id, _sender), row in utterances.items():
        if (row.get("utterance") or "").strip():
            threads[issue_id].append((int(created.timestamp()), row.get("event_uuid") or "", row))
    conversations = {}
    for issue_id in set(metadata) | set(threads):
        meta = metadata.get(issue_id, {})
        messages = sorted(threads[issue_id], key=lambda item: (item[0], item[1]))
        customer = meta.get("customer_id") or next(
            (row["sender_id"] for _, _, row in messages if row["sender_type"] == "customer"), None)
        conversations[str(issue_id)] = Conversation(
            str(issue_id), int(customer), bool(meta.get("conversation_end_ts")), meta.get("last_rep_id"),
            [part.strip() for part in (meta.get("company_segments") or "").strip("[]").split(",") if part.strip()],
            [(created, row["sender_type"], row["utterance"], str(row.get("sender_id"))) for created, _, row in messages])
    contact_company = {}
    for customer in sorted(customers.values(), key=lambda row: (instant(row.get("first_seen_ts")), row["customer_id"]),
                           reverse=True):
        email = (customer.get("email_address") or "").strip().lower()
        contact_company[email or f"customer:{customer['customer_id']}"] = customer.get("company_external_id")
    return Expected(
        conversations=conversations,
        contact_company=contact_company,
        rep_emails={rep_id: emails.get((rep_id, "email"), {}).get("attribute_value") for rep_id in reps},
        rep_names={rep_id: row.get("name") for rep_id, row in reps.items()},
        companies=set(companies),
    )


def reader_text(body: str | None) -> str:
    """What a person reads in Intercom: HTML entities and <br> undone."""
    text = re.sub(r"^<p>(.*)</p>$", r"\1", (body or "").strip(), flags=re.S)
    return html.unescape(text.replace("<br>", "\n"))


def thread_of(conversation: dict) -> list[tuple[int, str, str]]:
    """(created_at, author type, text) of the opening message and every comment or note, in order."""
    source = conversation["source"]
    thread = [(conversation["created_at"], source["author"]["type"], reader_text(source["body"]))]
    thread += [(part["created_at"], part["author"]["type"], reader_text(part["body"]))
               for part in conversation["parts"]
               if part["part_type"] in {"comment", "note"} and not part.get("attachments")]
    return sorted(thread, key=lambda item: item[0])
