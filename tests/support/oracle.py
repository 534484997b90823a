"""What a correct migration of a dataset directory looks like, computed from the files alone.

Deliberately independent of the package under test: plain Python over the JSON Lines, following
ASAPP's documented rules (only a feed's own data files, only partitions with _SUCCESS; per unique
key the latest instance_ts, then the latest partition) and the expected outcomes the dataset's
mess kinds are documented with (include/sandbox/asapp/DATASET.md), so that a bug in the
pipeline's DuckDB SQL or its payload rules cannot hide in both.
"""

from __future__ import annotations

import html
import json
import re
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REDELIVERIES = "_redeliveries"
EMAIL = re.compile(r"[^@\s]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
KNOWN_SENDERS = {"customer", "bot", "rep", "rep_note", "rep_whisper"}


def instant(text) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def whole_int(value) -> int | None:
    try:
        return (
            int(value) if not isinstance(value, bool) and str(value).strip().lstrip("-").isdigit() else None
        )
    except (TypeError, ValueError):
        return None


def _lines(data: bytes, gzipped: bool) -> list[bytes]:
    """The complete lines of a file; of a truncated gzip file, those before the break."""
    if gzipped:
        decompressor, out, rest = zlib.decompressobj(zlib.MAX_WBITS | 16), [], data
        while rest:
            try:
                out.append(decompressor.decompress(rest))
            except zlib.error:
                break
            rest = decompressor.unused_data if decompressor.eof else b""
            if rest:
                decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        complete = decompressor.eof
        data = b"".join(out)
        if not complete:  # the last, partial line is not a line
            return data.split(b"\n")[:-1]
    return data.split(b"\n")


def rows(data: Path, feed: str, *, redelivered: bool = False) -> Iterator[tuple]:
    """(order, row) for every usable row of the complete partitions; order sorts later deliveries last."""
    for directory in sorted((data / feed / "version=1" / "format=jsonl").glob("dt=*/hr=*/mi=*")):
        if not (directory / "_SUCCESS").exists():
            continue
        for path in sorted(directory.iterdir()):
            if not re.fullmatch(rf"{re.escape(feed)}\.jsonl(\.\d\d)?(\.gz)?", path.name):
                continue
            source = data / REDELIVERIES / path.relative_to(data) if redelivered else path
            source = source if source.exists() else path
            for number, raw in enumerate(_lines(source.read_bytes(), path.suffix == ".gz"), 1):
                raw = (raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw).rstrip(b"\r")
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    continue
                if isinstance(row, dict):
                    yield (str(directory), path.name, number), row


EARLIEST = datetime.min.replace(tzinfo=UTC)


def latest(data: Path, feed: str, key, when: str | None = "instance_ts", redelivered: bool = False) -> dict:
    """Per key, the row with the latest `when`, then the latest delivery. A row whose key cannot be read
    (missing, or of the wrong type) is not usable, as ASAPP's unique conditions need the whole key."""
    best: dict = {}
    for order, row in rows(data, feed, redelivered=redelivered):
        identity = key(row)
        if identity is None or (isinstance(identity, tuple) and None in identity[:2]):
            continue
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
        meta, details = event.get("meta_data"), event.get("details") or {}
        if (
            not isinstance(meta, dict)
            or not event.get("event_id")
            or instant(meta.get("create_time")) is None
            or event.get("name") != "com.asapp.event.journey"
            or not meta.get("issue_id")
        ):
            continue  # not a usable event (malformed_events): the pipeline quarantines it
        issue = issues.setdefault(int(meta["issue_id"]), {"metadata": {}, "messages": {}})
        state = issue["metadata"]
        rep_id = (event.get("data") or {}).get("rep_id")
        state.update(
            {
                key: value
                for key, value in {
                    "customer_id": (event.get("data") or {}).get("customer_id"),
                    "last_rep_id": rep_id,
                    "conversation_end_ts": details.get("issue_ended_ts"),
                    "company_segments": "[" + ",".join(meta["company_segments"]) + "]"
                    if meta.get("company_segments")
                    else None,
                }.items()
                if value is not None
            }
        )
        message = details.get("message")
        if event.get("event_type") == "TEXT_MESSAGE" and message:
            issue["messages"][message["event_uuid"]] = {**message, "utterance": message["text"]}
    return {
        issue_id: {"metadata": issue["metadata"], "messages": list(issue["messages"].values())}
        for issue_id, issue in issues.items()
    }


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
    """contact key (lower-cased valid email, or customer:<id>) → company_external_id, when the company
    exists"""
    rep_emails: dict[str, str | None]
    rep_names: dict[str, str]
    companies: set[str]
    quarantined_conversations: set[str] = field(default_factory=set)
    """Conversations that cannot be loaded: no customer, or no message to open them with."""


def contact_key(customer: dict) -> str:
    email = (customer.get("email_address") or "").strip().lower()
    return f"email:{email}" if EMAIL.fullmatch(email) else f"customer:{customer['customer_id']}"


def _utterance_key(row: dict):
    return instant(row.get("created_ts")), whole_int(row.get("issue_id")), row.get("sender_id")


def expected(data: Path, *, redelivered: bool = False) -> Expected:
    """What Intercom must hold; `redelivered`: after ASAPP delivered a corrected copy of broken files."""
    metadata = latest(data, "convos_metadata", lambda row: whole_int(row.get("issue_id")))
    utterances = latest(data, "utterances", _utterance_key, redelivered=redelivered)
    customers = latest(data, "customers", lambda row: whole_int(row.get("customer_id")), when=None)
    companies = latest(data, "companies", lambda row: row.get("company_external_id"), when=None)
    reps = latest(
        data, "reps", lambda row: str(row["rep_id"]) if row.get("rep_id") else None, when="created_ts"
    )
    emails = latest(
        data,
        "rep_attributes",
        lambda row: (str(row.get("rep_id")), row.get("attribute_name")),
        when="created_ts",
    )

    journeys = journey_state(data)
    for issue_id, journey in journeys.items():
        metadata[issue_id] = {**metadata.get(issue_id, {}), **journey["metadata"]}
        for message in journey["messages"]:
            utterances[(instant(message["created_ts"]), issue_id, message["sender_id"])] = message
    threads: dict[int, list] = defaultdict(list)
    for (created, issue_id, _sender), row in utterances.items():
        if (row.get("utterance") or "").strip():
            threads[issue_id].append((int(created.timestamp()), row.get("event_uuid") or "", row))
    conversations, quarantined = {}, set()
    for issue_id in set(metadata) | set(threads):
        meta = metadata.get(issue_id, {})
        messages = sorted(threads[issue_id], key=lambda item: (item[0], item[1]))
        customer = whole_int(meta.get("customer_id")) or next(
            (whole_int(row["sender_id"]) for _, _, row in messages if row["sender_type"] == "customer"), None
        )
        visible = [row for _, _, row in messages if row["sender_type"] in {"customer", "bot", "rep"}]
        if customer not in customers or not visible:
            quarantined.add(str(issue_id))
            continue
        conversations[str(issue_id)] = Conversation(
            str(issue_id),
            customer,
            bool(meta.get("conversation_end_ts")),
            str(meta["last_rep_id"]) if meta.get("last_rep_id") else None,
            [
                part.strip()
                for part in (meta.get("company_segments") or "").strip("[]").split(",")
                if part.strip()
            ],
            [
                (created, row["sender_type"], row["utterance"], str(row.get("sender_id")))
                for created, _, row in messages
            ],
        )
    contact_company = {}
    for customer in sorted(
        customers.values(),
        key=lambda row: (instant(row.get("first_seen_ts")) or EARLIEST, row["customer_id"]),
        reverse=True,
    ):
        company = customer.get("company_external_id")
        contact_company[contact_key(customer)] = company if company in companies else None
    return Expected(
        conversations=conversations,
        contact_company=contact_company,
        rep_emails={rep_id: emails.get((rep_id, "email"), {}).get("attribute_value") for rep_id in reps},
        rep_names={rep_id: row.get("name") for rep_id, row in reps.items()},
        companies={company for company in companies if company},
        quarantined_conversations=quarantined,
    )


def visible_text(text: str) -> str:
    """Text as a reader sees it: spaces (tabs, non-breaking ones) collapsed, none at line ends."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in lines).strip("\n")


def reader_text(body: str | None) -> str:
    """What a person reads in Intercom: HTML entities, paragraphs and <br> undone."""
    text = re.sub(r"^<p>(.*)</p>$", r"\1", (body or "").strip(), flags=re.S)
    return visible_text(html.unescape(re.sub(r"<br\s*/?>", "\n", text)))


def thread_of(conversation: dict) -> list[tuple[int, str, str]]:
    """(created_at, author type, text) of the opening message and every comment or note, in order."""
    source = conversation["source"]
    thread = [(conversation["created_at"], source["author"]["type"], reader_text(source["body"]))]
    thread += [
        (part["created_at"], part["author"]["type"], reader_text(part["body"]))
        for part in conversation["parts"]
        if part["part_type"] in {"comment", "note"} and not part.get("attachments")
    ]
    return sorted(thread, key=lambda item: item[0])
