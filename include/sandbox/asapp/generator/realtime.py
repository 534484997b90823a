"""_realtime/events.jsonl: what ASAPP's Real-Time Event API pushes during the window after the batch.

Envelopes follow NOTES §4.2 exactly (nulls omitted). Journey events carry the `details` accumulated
so far for their issue, as documented; TEXT_MESSAGE's `details.message` is this project's extension
so that messages written after the last batch partition are not lost. The window is small and
bounded (see world.MAX_BOUNDARY / MAX_REALTIME_ONLY), so its events are sorted in memory.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from . import clock
from .conversations import Conversation
from .entities import Rep
from .mess import Mess
from .randomness import stream, uuid4
from .world import World

API_VERSION = "v1.3.0"
JOURNEY, ACTIVITY = "com.asapp.event.journey", "com.asapp.event.activity"
REP_SENDERS = ("rep", "rep_note", "rep_whisper")
ROUTING = {"ONLINE": "AVAILABLE", "AWAY": "UNAVAILABLE", "OFFLINE": "UNAVAILABLE"}


@dataclass(frozen=True)
class _Event:
    create_time: int
    order: int
    event_id: str
    line: bytes
    """The serialized envelope: a few times smaller than the dict it comes from."""


def _without_nulls(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}


class RealtimeLog:
    def __init__(self, world: World) -> None:
        self.world = world
        self.start, self.end = world.batch_end, world.realtime_end
        self.events: list[_Event] = []
        self.counts: Counter[str] = Counter()
        """Events per feed name (journey, activity) and per event type."""
        self._previous_create_time = 0
        """Within one issue or rep, create_time follows emission order, so sorting keeps the accumulation."""

    def _add(
        self, at: int, name: str, meta_data: dict, data: dict, event_type: str, details: dict, rng
    ) -> None:
        if not self.start <= at < self.end:
            return
        # ASAPP: event_time is a few ms before create_time
        create_time = max(at + rng.randint(2, 40), self._previous_create_time + 1)
        self._previous_create_time = create_time
        envelope = {
            "api_version": API_VERSION,
            "name": name,
            "meta_data": _without_nulls(
                {**meta_data, "create_time": clock.event_ts(create_time), "event_time": clock.event_ts(at)}
            ),
            "data": _without_nulls(data),
            "event_id": uuid4(rng),
            "event_type": event_type,
            "details": _without_nulls(details),
        }
        self.events.append(
            _Event(create_time, len(self.events), envelope["event_id"], orjson.dumps(envelope) + b"\n")
        )
        self.counts.update((name, event_type))

    # -- journey ------------------------------------------------------------------------------------

    def add_conversation(self, c: Conversation) -> bool:
        """Queue the conversation's journey events that fall in the window; True if there were any."""
        if c.last_moment < self.start:
            return False
        before = len(self.events)
        self._previous_create_time = 0
        rng = stream(self.world.seed, "journey", c.issue_id)
        meta = {
            "session_id": c.session_id,
            "issue_id": str(c.issue_id),
            "company_subdivision": c.queue.subdivision,
            "company_id": self.world.company,
            "company_segments": list(c.segments),
            "client_id": f"{self.world.company}-{c.platform}",
            "client_type": c.platform.upper(),
        }
        data = {
            "customer_id": c.customer.customer_id,
            "session_id": c.session_id,
            "session_type": "asapp-uuid",
            "user_id": c.customer.external_id if c.authenticated else None,
            "user_type": f"{self.world.company}_CUSTOMER_ACCOUNT_ID" if c.authenticated else None,
            "queue_id": c.queue.queue_id,
            "queue_name": c.queue.name,
        }
        details: dict = {"issue_start_ts": clock.event_ts(c.start)}

        def journey(at: int, event_type: str, extra: dict | None = None) -> None:
            self._add(at, JOURNEY, meta, dict(data), event_type, {**details, **(extra or {})}, rng)

        for at, kind, item in c.timeline():
            if kind == "created":
                journey(at, "ISSUE_CREATED")
            elif kind == "params":
                for number, (key, value) in enumerate(item.values.items(), start=1):
                    details[f"customer_params_key_name_{number:02d}"] = key
                    details[f"customer_params_field_{number:02d}"] = value
                journey(at, "JOURNEY_CUSTOMER_PARAMETERS")
            elif kind == "queued":
                details["queued_ts"] = clock.event_ts(at)
                journey(at, "QUEUED")
            elif kind == "assigned":
                data.update(_agent(item.rep))
                details.setdefault("assigned_ts", clock.event_ts(at))
                if item.queued_at is not None:
                    details["queued_ms"] = at - item.queued_at
                journey(at, "ASSIGNED")
            elif kind == "message":
                self._count_message(details, item, c)
                journey(
                    at,
                    "TEXT_MESSAGE",
                    {
                        "message": {
                            "event_uuid": item.event_uuid,
                            "created_ts": clock.event_ts(at),
                            "sender_type": item.sender_type,
                            "sender_id": item.sender_id,
                            "utterance_type": item.utterance_type,
                            "text": item.text,
                        }
                    },
                )
                if item.upload is not None:
                    details["uploaded_files_list"] = [
                        *details.get("uploaded_files_list", []),
                        _without_nulls(item.upload.file_item()),
                    ]
                    journey(at, "FILE_UPLOAD_DETECTED")
            elif kind == "ended":
                details.update(issue_ended_ts=clock.event_ts(at), is_resolved=c.resolved)
                if c.disposition:
                    details["disposition_ts"] = clock.event_ts(at)
                if c.assignments:
                    details["handle_ms"] = at - c.assignments[0].at
                journey(at, "CONVERSATION_ENDED")
                journey(at, "ISSUE_ENDED")
            elif kind == "survey":
                details.update(survey_responses=item.responses(), survey_submit_ts=clock.event_ts(at))
                journey(at, "SURVEY_SUBMITTED")
        return len(self.events) > before

    @staticmethod
    def _count_message(details: dict, message, c: Conversation) -> None:
        stamp = clock.event_ts(message.at)
        if message.sender_type == "customer":
            details["customer_utterance_ct"] = details.get("customer_utterance_ct", 0) + 1
            details["last_customer_utterance_ts"] = stamp
        elif message.sender_type in REP_SENDERS:
            details["agent_utterance_ct"] = details.get("agent_utterance_ct", 0) + 1
            details["last_agent_utterance_ts"] = stamp
            if "agent_first_response_ms" not in details and c.assignments:
                details["agent_first_response_ms"] = message.at - c.assignments[0].at

    # -- activity -------------------------------------------------------------------------------

    def add_activity(self, rep: Rep) -> None:
        """An identity event, then a few status changes, for one rep during the window."""
        rng = stream(self.world.seed, "activity", rep.index)
        self._previous_create_time = 0
        current = rep.as_of(self.start)
        queue_names = {q.queue_id: q.name for q in self.world.queues}
        data = {
            "rep_id": rep.rep_id,
            "desk_mode": "CHAT",
            "rep_name": current.name,
            "agent_given_name": current.first,
            "agent_family_name": current.last,
            "agent_display_name": _display_name(current),
            "external_rep_id": rep.external_rep_id,
            "max_slots": current.max_slot,
            "queue_ids": list(rep.queue_ids),
            "queue_names": [queue_names[q] for q in rep.queue_ids],
        }
        meta = {"company_id": self.world.company}
        span = self.end - self.start
        at = self.start + rng.randrange(max(1, span // 10))
        self._add(at, ACTIVITY, meta, data, "agent_activity_identity_updated", {}, rng)
        details: dict = {}
        for at in sorted(self.start + rng.randrange(max(1, span)) for _ in range(rng.randint(2, 4))):
            status = rng.choice(list(ROUTING))
            details.update(
                status_updated_ts=clock.event_ts(at),
                status_description=status,
                routing_status=ROUTING[status],
                assigned_customer_ct=rng.randint(0, current.max_slot),
            )
            self._add(at, ACTIVITY, meta, data, "agent_activity_status_updated", dict(details), rng)

    # -- output ---------------------------------------------------------------------------------

    def write(self, path: Path, duplicated, malformed) -> int:
        """Sort by create_time, deliver some events twice (same event_id), add malformed lines after some
        others, write; returns the line count. duplicated gets event ids, malformed 1-based line numbers."""
        self.events.sort(key=lambda event: (event.create_time, event.order))
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = 0
        mess = self.world.mess
        journeys = sum(1 for event in self.events if JOURNEY_LINE in event.line)
        journey = 0
        with open(path, "wb") as out:
            for position, event in enumerate(self.events):
                copies = 2 if mess.picks(Mess.DUPLICATE_DELIVERIES, position, len(self.events)) else 1
                out.write(event.line * copies)
                lines += copies
                if copies == 2:
                    duplicated(event.event_id)
                if JOURNEY_LINE not in event.line:
                    continue
                # copies of journey events: the stream a migration follows by default
                if mess.picks(Mess.MALFORMED_EVENTS, journey, journeys):
                    for line in _malformed(event.line, stream(self.world.seed, "malformed-event", position)):
                        out.write(line)
                        lines += 1
                        malformed(lines)
                journey += 1
        return lines


JOURNEY_LINE = b'"name":"com.asapp.event.journey"'
UNPARSABLE_TIMES = ("yesterday", "2026-13-45T25:61:00.000Z", "", "07/01/2026 24:13")


def _malformed(line: bytes, rng) -> list[bytes]:
    """Three envelopes that are JSON objects but no usable events (malformed_events): one without event_id,
    one whose meta_data is not an object (a JSON string of it), one with an unparsable create_time."""
    envelope = orjson.loads(line)
    without_id = {key: value for key, value in envelope.items() if key != "event_id"}
    meta_as_text = {
        **envelope,
        "meta_data": orjson.dumps(envelope["meta_data"]).decode(),
        "event_id": uuid4(rng),
    }
    bad_time = {
        **envelope,
        "meta_data": {**envelope["meta_data"], "create_time": rng.choice(UNPARSABLE_TIMES)},
        "event_id": uuid4(rng),
    }
    return [orjson.dumps(value) + b"\n" for value in (without_id, meta_as_text, bad_time)]


def _agent(rep: Rep) -> dict:
    return {
        "agent_id": rep.rep_id,
        "rep_id": rep.rep_id,
        "external_agent_id": rep.external_rep_id,
        "agent_name": f"{rep.first} {rep.last}",
        "agent_given_name": rep.first,
        "agent_family_name": rep.last,
        "agent_display_name": _display_name(rep),
    }


def _display_name(rep: Rep) -> str:
    return f"{rep.first} {rep.last[0]}."
