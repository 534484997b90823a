"""One support conversation, simulated from start to survey: the timeline every feed row comes from.

A conversation is built whole from its own seeded stream (so it depends only on seed and issue
number), then the feeds and the real-time log read their views of it. Times strictly increase
message after message; an outage hour is skipped over, as nobody can write during one.
"""

import random
from dataclasses import dataclass, field
from enum import StrEnum

from . import attachments, clock, texts
from .attachments import Attachment
from .entities import BOT_SENDER_ID, SYSTEM_SENDER_ID, Customer, Queue, Rep, unknown_agent
from .mess import Mess
from .randomness import Weighted, hex_id, stream, ulid, uuid4
from .world import World

ISSUE_ID_BASE = 21_400_001
ORPHAN_ISSUE_ID_BASE = 29_200_001
"""issue_id of orphan_uploads rows (+ the index of the conversation they are written beside): no other feed
has it."""
PLATFORMS = Weighted({"web": 55, "ios": 25, "android": 20})
DEVICES = {
    "web": Weighted({"desktop": 75, "mobile": 20, "tablet": 5}),
    "ios": Weighted({"mobile": 90, "tablet": 10}),
    "android": Weighted({"mobile": 92, "tablet": 8}),
}
SEGMENT_OF_INTENT = {
    "billing": "billing",
    "technical": "care",
    "upgrade": "sales",
    "cancel": "retention",
    "shipping": "care",
}
EXTRA_SEGMENTS = ["marketing", "promotions", "vip", "outage"]
RATINGS = Weighted({5: 40, 4: 30, 3: 12, 2: 8, 1: 10})
REP_UTTERANCE_TYPES = Weighted({"freehand": 60, "autosuggest": 20, "autocomplete": 12, "script": 8})
DISPOSITIONS = Weighted({"resolved": 70, "unresolved": 20, "timeout": 10})
SENTIMENTS = Weighted({"Neutral": 55, "Positive": 25, "Negative": 20})
LONG_PAIRS = (505, 620)
"""Customer/rep exchanges of a very long conversation: over 1,000 messages."""
BOUNDARY_TAIL = 10 * clock.MINUTE
"""A conversation open at the batch boundary keeps talking at least this long after it."""


class Opening(StrEnum):
    """Who writes a conversation's first message (bot_first and rep_first name the manifest's lists)."""

    CUSTOMER = "customer_first"
    BOT = "bot_first"
    REP = "rep_first"


OPENING_SHARES = {Opening.BOT: 0.20, Opening.REP: 0.03}
"""Real chats often open with the virtual assistant's greeting, a few with an agent's proactive
message. This is ordinary traffic, not mess: --mess-rate and --no-mess leave it alone."""


def opening_of(world: World, issue_id: int) -> Opening:
    """A draw of its own per issue, so choosing the opening changes no other conversation."""
    if world.options.customer_first:
        return Opening.CUSTOMER
    draw = stream(world.seed, "opening", issue_id).random()
    for opening, share in OPENING_SHARES.items():
        if draw < share:
            return opening
        draw -= share
    return Opening.CUSTOMER


EXTRA_MESSAGES = (Mess.EMPTY_MESSAGES, Mess.VERY_LONG_MESSAGES, Mess.PADDED_TEXT, Mess.UNKNOWN_SENDER_TYPES)
"""Message-level kinds written as messages of their own (padded_text also pads the rep's next answer)."""


@dataclass(frozen=True)
class Plan:
    """The conversation's shape, decided up front: what happens in it and which mess it carries."""

    long: bool
    resumed: bool
    upload: bool
    unusual_upload: bool
    text_mess: Mess | None
    open_at_boundary: bool
    missing_binary: bool = False
    extras: tuple[Mess, ...] = ()


@dataclass
class Upload:
    event_id: str
    at: int
    attachment: Attachment
    unusual: bool
    missing: bool = False
    """missing_attachment_binaries: no binary is written, so getattachmentfile answers 404."""

    def file_item(self) -> dict:
        """The journey's uploaded_files_list item (NOTES §4.3), which the file_uploads rows also carry."""
        return {
            "file_upload_event_id": self.event_id,
            "file_upload_ts": clock.feed_ts(self.at),
            "file_name": self.attachment.file_name,
            "file_mime_type": self.attachment.mime_type,
            "file_size_mb": self.attachment.size_mb,
            "file_image_width": self.attachment.width,
            "file_image_height": self.attachment.height,
        }


@dataclass
class Message:
    at: int
    sender_type: str
    sender_id: int
    utterance_type: str
    text: str
    event_uuid: str
    sent_to_rep: bool
    upload: Upload | None = None
    mess: Mess | None = None


@dataclass
class Assignment:
    queued_at: int | None
    """None when the rep reached out first: nobody waited in a queue."""
    at: int
    rep: Rep


@dataclass
class Survey:
    at: int
    rating: int
    comment: str | None
    effort: int

    def responses(self) -> list[dict]:
        """The answers, as customer_feedback rows and SURVEY_SUBMITTED's survey_responses carry them."""
        responses = [
            {
                "question": "VOC Score",
                "question_category": "rating",
                "question_type": "scale",
                "answer": str(self.rating),
                "ordering": 0,
            },
            {
                "question": "How easy was it to get help today?",
                "question_category": "levelOfEffort",
                "question_type": "radio",
                "answer": str(self.effort),
                "ordering": 1,
            },
        ]
        if self.comment:
            responses.append(
                {
                    "question": "What did the agent do well, or what could the agent have done better?",
                    "question_category": "comment",
                    "question_type": "text",
                    "answer": self.comment,
                    "ordering": 2,
                }
            )
        return responses


@dataclass
class StructuredData:
    at: int
    conversation_id: str
    structured_data_id: str


@dataclass
class Params:
    event_id: str
    at: int
    values: dict[str, str]


@dataclass
class Conversation:
    issue_id: int
    customer: Customer
    new_customer: bool
    start: int
    session_id: str
    external_session_id: str | None
    queue: Queue
    platform: str
    device: str
    segments: tuple[str, ...]
    intent: str
    authenticated: bool
    auth_token: str | None
    opening: Opening
    messages: list[Message] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    ended_at: int | None = None
    disposition: str | None = None
    termination: str | None = None
    notes: str | None = None
    sentiment: str | None = None
    survey: Survey | None = None
    notes_edit: tuple[int, str] | None = None
    structured: StructuredData | None = None
    params: Params | None = None
    timestamp_style: str | None = None
    """"spaced" or "naive" when its convos_metadata rows use ASAPP's other timestamp formats."""
    csat_value: float | str | None = None
    """bad_attribute_values: what convos_metadata.csat_rating says instead of the survey's rating × 100."""
    unknown_agent: Rep | None = None
    """unknown_agents: the agent (in neither reps nor rep_attributes) every assignment goes to."""
    mess: set[Mess] = field(default_factory=set)

    @property
    def language(self) -> str:
        return self.queue.language

    @property
    def company_segments(self) -> str:
        """ASAPP's bracketed form: "[marketing,promotions]"."""
        return f"[{','.join(self.segments)}]"

    @property
    def resolved(self) -> bool:
        return self.disposition == "resolved"

    def timeline(self) -> list[tuple[int, str, object]]:
        """(time, kind, item) of everything that happened, in time order (ties: the order listed here).

        Kinds: created, params, message, queued, assigned, ended, survey, notes edited.
        """
        events: list[tuple[int, str, object]] = [(self.start, "created", None)]
        if self.params is not None:
            events.append((self.params.at, "params", self.params))
        events += [(m.at, "message", m) for m in self.messages]
        for assignment in self.assignments:
            if assignment.queued_at is not None:
                events.append((assignment.queued_at, "queued", assignment))
            events.append((assignment.at, "assigned", assignment))
        if self.ended_at is not None:
            events.append((self.ended_at, "ended", None))
        if self.survey is not None:
            events.append((self.survey.at, "survey", self.survey))
        if self.notes_edit is not None:
            events.append((self.notes_edit[0], "notes edited", self.notes_edit[1]))
        events.sort(key=lambda event: event[0])
        return events

    @property
    def last_moment(self) -> int:
        """When the last thing about this conversation happens (its survey may come a day later)."""
        return max(self.ended_at or self.start, self.survey.at if self.survey else self.start)


class _Builder:
    """Writes one conversation's timeline, message by message."""

    def __init__(self, world: World, conversation: Conversation, rng: random.Random) -> None:
        self.world, self.c, self.rng = world, conversation, rng
        self.extra_at: dict[Mess, int] = {}
        """Pair after which each extra message of the plan is written."""
        self.now = conversation.start
        self.rep: Rep | None = None
        self.uploads = 0
        self.details = {
            "first": conversation.customer.first,
            "brand": world.brand,
            "amount": f"{rng.randint(20, 400)}.{rng.randint(0, 99):02d}",
            "credit": str(rng.choice([5, 10, 15, 20, 25])),
            "month": rng.choice(["January", "December", "November"]),
            "code": f"E{rng.randint(100, 999)}",
            "order": f"A{rng.randint(100000, 999999)}",
            "account": f"{rng.randint(10**9, 10**10 - 1)}",
            "last4": f"{rng.randint(0, 9999):04d}",
            "device": rng.choice(["iPhone 16", "Pixel 9", "Galaxy S25", "router", "set-top box"]),
            "ticket": f"T-{rng.randint(10000, 99999)}",
            "rep": "",
        }

    def wait(self, low_seconds: float, high_seconds: float) -> int:
        self.now = self.world.after(
            self.now, max(1, round(self.rng.uniform(low_seconds, high_seconds) * 1000))
        )
        return self.now

    def say(
        self,
        sender_type: str,
        text: str,
        utterance_type: str = "freehand",
        rep: Rep | None = None,
        mess: Mess | None = None,
    ) -> Message:
        if sender_type == "customer":
            sender_id = self.c.customer.customer_id
        elif sender_type == "bot":
            sender_id = BOT_SENDER_ID
        elif sender_type == "system":
            sender_id = SYSTEM_SENDER_ID
        else:
            sender_id = (rep or self.rep).sender_id
        message = Message(
            at=self.now,
            sender_type=sender_type,
            sender_id=sender_id,
            utterance_type=utterance_type,
            text=text,
            event_uuid=uuid4(self.rng),
            sent_to_rep=sender_type == "customer" and self.rep is not None,
            mess=mess,
        )
        self.c.messages.append(message)
        return message

    def customer(self, kind: str) -> Message:
        return self.say("customer", texts.line(self.rng, kind, self.c.language, self.details))

    def customer_opening(self, html_like: bool) -> Message:
        """The customer's first message: the question, or the html_like_text mess in its place."""
        if html_like:
            return self.say("customer", self.rng.choice(texts.HTML_LIKE_LINES), mess=Mess.HTML_LIKE_TEXT)
        return self.say("customer", texts.opening(self.rng, self.c.language, self.c.intent, self.details))

    def bot_says(self, kind: str) -> Message:
        return self.say("bot", texts.line(self.rng, kind, self.c.language, self.details), "script")

    def rep_says(self, kind: str, padded: bool = False) -> Message:
        text = texts.line(self.rng, kind, self.c.language, self.details)
        if padded:
            return self.say(
                "rep", texts.padded(self.rng, text), REP_UTTERANCE_TYPES.pick(self.rng), mess=Mess.PADDED_TEXT
            )
        return self.say("rep", text, REP_UTTERANCE_TYPES.pick(self.rng))

    def extras_after_customer(self, pair: int) -> None:
        """The customer's extra messages planned for this pair: empty, very long, padded."""
        for kind in (Mess.EMPTY_MESSAGES, Mess.VERY_LONG_MESSAGES, Mess.PADDED_TEXT):
            if self.extra_at.get(kind) == pair:
                self.wait(2, 30)
                if kind is Mess.EMPTY_MESSAGES:
                    text = texts.empty_text(self.rng)
                elif kind is Mess.VERY_LONG_MESSAGES:
                    text = texts.very_long(self.rng)
                else:
                    text = texts.padded(
                        self.rng, texts.line(self.rng, "customer_follow", self.c.language, self.details)
                    )
                self.say("customer", text, mess=kind)

    def system_notice(self, pair: int) -> None:
        if self.extra_at.get(Mess.UNKNOWN_SENDER_TYPES) == pair:
            self.wait(1, 5)
            self.say(
                "system", texts.system_line(self.rng, self.details), "script", mess=Mess.UNKNOWN_SENDER_TYPES
            )

    def assign(self, queued_at: int | None) -> None:
        if self.c.unknown_agent is not None:
            self.rep = self.c.unknown_agent
        else:
            candidates = [rep for rep in self.world.reps_for(self.c.queue) if rep is not self.rep]
            self.rep = self.rng.choice(candidates or self.world.reps_for(self.c.queue))
        self.details["rep"] = self.rep.first
        self.c.assignments.append(Assignment(queued_at, self.now, self.rep))

    def upload(self, unusual: bool, missing: bool = False) -> None:
        message = self.say("customer", texts.line(self.rng, "customer_upload", self.c.language, self.details))
        upload_rng = stream(self.world.seed, "upload", self.c.issue_id, self.uploads)
        self.uploads += 1
        message.upload = Upload(
            uuid4(upload_rng), message.at, attachments.build(upload_rng, unusual), unusual, missing
        )


def build(
    world: World,
    index: int,
    start: int,
    open_at_boundary: bool = False,
    realtime_only: bool = False,
    sends_file: bool = False,
    issue_id: int | None = None,
) -> Conversation:
    """Conversation `index` (0-based over the batch, then the real-time-only ones) starting at `start`.

    `issue_id` overrides ISSUE_ID_BASE + index (phantom conversations of the file-level mess kinds).
    """
    issue_id = ISSUE_ID_BASE + index if issue_id is None else issue_id
    rng = stream(world.seed, "conversation", issue_id)
    if realtime_only:
        customer_index, new_customer = world.usable_customer(rng.randrange(world.customers.count)), False
    else:
        customer_index, new_customer = world.customer_for(index, rng)
    customer = world.customers.get(customer_index)
    queue = world.queue_choice(customer.language).pick(rng)
    platform = PLATFORMS.pick(rng)
    intent = rng.choice(texts.INTENTS)
    eligible = not (open_at_boundary or realtime_only)

    def picked(kind: Mess, also=None) -> bool:
        """Cases picked for a conversation that cannot take them (see World.conversation_blocked) move on."""

        def blocked(k: int) -> bool:
            return world.conversation_blocked(k) or (also is not None and also(k))

        return eligible and world.mess.assigned(kind, index, world.conversations, blocked)

    segments = (SEGMENT_OF_INTENT[intent],)
    if picked(Mess.MULTIPLE_COMPANY_SEGMENTS):
        segments = (*segments, *rng.sample(EXTRA_SEGMENTS, rng.randint(1, 2)))
    authenticated = rng.random() < 0.7
    c = Conversation(
        issue_id=issue_id,
        customer=customer,
        new_customer=new_customer,
        start=start,
        session_id=uuid4(rng),
        external_session_id=uuid4(rng) if platform == "web" else None,
        queue=queue,
        platform=platform,
        device=DEVICES[platform].pick(rng),
        segments=segments,
        intent=intent,
        authenticated=authenticated,
        auth_token=hex_id(rng, 32) if authenticated else None,
        opening=opening_of(world, issue_id),
    )
    if len(segments) > 1:
        c.mess.add(Mess.MULTIPLE_COMPANY_SEGMENTS)
    if picked(Mess.ALTERNATE_TIMESTAMPS):
        c.timestamp_style = rng.choice(["spaced", "naive"])
        c.mess.add(Mess.ALTERNATE_TIMESTAMPS)
    for kind in (Mess.NUMBERS_AS_STRINGS, Mess.ORPHAN_UPLOADS):
        if picked(kind):
            c.mess.add(kind)
    if picked(Mess.UNKNOWN_AGENTS):
        c.unknown_agent = unknown_agent(world.seed, index, queue, world.batch_start)
    b = _Builder(world, c, rng)
    long = picked(Mess.LONG_CONVERSATIONS) and start + 10 * clock.HOUR < world.batch_end
    unusual_upload = picked(Mess.UNUSUAL_ATTACHMENTS)
    missing_binary = picked(
        Mess.MISSING_ATTACHMENT_BINARIES,
        also=lambda k: world.mess.assigned(
            Mess.UNUSUAL_ATTACHMENTS, k, world.conversations, world.conversation_blocked
        ),
    )
    plan = Plan(
        long=long,
        resumed=picked(Mess.RESUMED_CONVERSATIONS) and not long and start + 14 * clock.HOUR < world.batch_end,
        upload=unusual_upload or missing_binary or rng.random() < 0.03 or sends_file,
        unusual_upload=unusual_upload,
        text_mess=next((kind for kind in (Mess.HTML_LIKE_TEXT, Mess.UNICODE_TEXT) if picked(kind)), None),
        open_at_boundary=open_at_boundary,
        missing_binary=missing_binary,
        extras=tuple(kind for kind in EXTRA_MESSAGES if picked(kind)),
    )
    c.mess.update(
        kind
        for kind, applies in (
            (Mess.LONG_CONVERSATIONS, plan.long),
            (Mess.RESUMED_CONVERSATIONS, plan.resumed),
            (Mess.UNUSUAL_ATTACHMENTS, plan.unusual_upload),
        )
        if applies
    )

    if rng.random() < 0.6:
        params = {
            "plan": customer.plan,
            "lob": queue.lob,
            "entry_point": rng.choice(["app_home", "bill_page", "help"]),
        }
        if rng.random() < 0.5:
            params["loyalty_tier"] = rng.choice(["bronze", "silver", "gold"])
        c.params = Params(uuid4(rng), world.after(start, rng.randint(200, 900)), params)

    overlong = picked(Mess.OVERLONG_VALUES)
    _open(b, plan)
    # these kinds need a rep: an unknown one who writes, notes a rep writes, or a rep's padded answer
    needs_rep = c.unknown_agent is not None or overlong or Mess.PADDED_TEXT in plan.extras
    escalated = c.opening is Opening.REP or plan.long or open_at_boundary or needs_rep or rng.random() < 0.82
    if escalated:
        _with_rep(b, plan)
    else:
        _bot_only(b, plan)
    if overlong:
        c.notes = texts.overlong_notes(rng, c.notes)
    _afterwards(
        b,
        escalated,
        late_csat=picked(Mess.LATE_CSAT),
        restated=picked(Mess.RESTATED_CONVERSATIONS),
        bad_csat=picked(Mess.BAD_ATTRIBUTE_VALUES),
    )
    if overlong and c.ended_at < world.batch_end:
        c.mess.add(Mess.OVERLONG_VALUES)
    return c


def orphan_upload(world: World, c: Conversation, index: int) -> tuple[int, Upload, str]:
    """An upload beside conversation `index` whose issue_id no other feed has (orphan_uploads):
    (issue_id, upload, event_uuid of the message that would have carried it)."""
    rng = stream(world.seed, "orphan-upload", index)
    at = min(world.after(c.start, rng.randint(1, 50) * clock.SECOND), world.batch_end - 1)
    upload = Upload(uuid4(rng), at, attachments.build(rng, False), False)
    return ORPHAN_ISSUE_ID_BASE + index, upload, uuid4(rng)


def _open(b: _Builder, plan: Plan) -> None:
    """The first messages, up to the customer's question, in the order the opening gives them."""
    html_like = plan.text_mess is Mess.HTML_LIKE_TEXT
    b.wait(0.3, 2.5)
    if b.c.opening is Opening.CUSTOMER:
        b.customer_opening(html_like)
        b.wait(1, 2)
        b.bot_says("bot_greeting")
    elif b.c.opening is Opening.BOT:
        b.bot_says("bot_greeting")
        b.wait(3, 25)  # the customer reads the greeting, then types
        b.customer_opening(html_like)
    else:
        b.assign(queued_at=None)  # the rep chose the customer: no queue, no bot
        b.wait(2, 10)
        b.rep_says("rep_proactive")
        b.wait(10, 90)
        b.customer_opening(html_like)


def _with_rep(b: _Builder, plan: Plan) -> None:
    c, rng = b.c, b.rng
    if b.rep is None:  # the bot hands over and the customer waits for a rep of the queue
        b.wait(1, 3)
        b.bot_says("bot_handoff")
        queued_at = b.wait(0.1, 0.5)
        b.now = b.world.after(b.now, round(min(rng.expovariate(1 / 90), 900) * 1000) + 1)
        b.assign(queued_at)
        b.wait(5, 20)
        b.rep_says("rep_greeting")
    pairs = rng.randint(*LONG_PAIRS) if plan.long else 1 + min(int(rng.expovariate(1 / 4)), 30)
    gaps = (3, 12) if plan.long else (8, 90)
    upload_at = rng.randrange(pairs) if plan.upload else None
    unicode_at = rng.randrange(pairs) if plan.text_mess is Mess.UNICODE_TEXT else None
    b.extra_at = {kind: rng.randrange(pairs) for kind in plan.extras}
    resume_at = rng.randrange(pairs) if plan.resumed else None
    transfer_at = rng.randrange(1, pairs) if pairs >= 3 and rng.random() < 0.08 else None
    pair = 0
    while pair < pairs or (plan.open_at_boundary and b.now < b.world.batch_end + BOUNDARY_TAIL):
        b.wait(*gaps)
        if pair == upload_at:
            b.upload(plan.unusual_upload, plan.missing_binary)
        elif pair == unicode_at:
            b.say("customer", texts.unicode_line(rng), mess=Mess.UNICODE_TEXT)
        else:
            b.customer("customer_follow")
        b.extras_after_customer(pair)
        if pair == transfer_at:
            b.wait(20, 120)
            b.assign(b.now)
            b.wait(5, 20)
            b.rep_says("rep_greeting")
        b.wait(*(gaps if plan.long else (10, 120)))
        b.rep_says("rep_follow", padded=b.extra_at.get(Mess.PADDED_TEXT) == pair)
        b.system_notice(pair)
        if rng.random() < 0.05:
            b.wait(2, 20)
            b.say("rep_note", texts.rep_note(rng, b.details), "freehand")
        if rng.random() < 0.03 and b.world.supervisors:
            b.wait(2, 30)
            b.say(
                "rep_whisper",
                texts.rep_whisper(rng, b.details),
                "freehand",
                rep=rng.choice(b.world.supervisors),
            )
        if pair == resume_at:
            b.now = b.world.after(b.now, rng.randint(2 * clock.HOUR, 6 * clock.HOUR))
            b.customer("customer_resume")
            b.wait(30, 300)
            b.assign(b.now)
            b.wait(5, 20)
            b.rep_says("rep_greeting")
        pair += 1
    b.wait(5, 60)
    b.rep_says("rep_close")
    c.disposition = DISPOSITIONS.pick(rng)
    if c.disposition == "timeout":
        c.termination = "autoend"
        b.wait(300, 900)
    else:
        b.wait(5, 60)
        b.customer("customer_close")
        c.termination = rng.choice(["agent", "agent", "customer"])
        b.wait(5, 40)
    c.notes = rng.choice(texts.DISPOSITION_NOTES[c.intent] if c.resolved else texts.OPEN_ISSUE_NOTES)


def _bot_only(b: _Builder, plan: Plan) -> None:
    c, rng = b.c, b.rng
    b.wait(5, 40)
    if plan.upload:
        b.upload(plan.unusual_upload, plan.missing_binary)
    elif plan.text_mess is Mess.UNICODE_TEXT:
        b.say("customer", texts.unicode_line(rng), mess=Mess.UNICODE_TEXT)
    else:
        b.customer("customer_follow")
    b.extra_at = {kind: 0 for kind in plan.extras}  # padded_text never comes here: it needs a rep
    b.extras_after_customer(0)
    b.wait(1, 3)
    b.bot_says("bot_answer")
    b.system_notice(0)
    if rng.random() < 0.6:
        b.wait(5, 40)
        b.customer("customer_close")
        c.termination = "customer"
    else:
        b.wait(300, 900)
        c.termination = "autoend"


def _afterwards(
    b: _Builder, escalated: bool, late_csat: bool, restated: bool, bad_csat: bool = False
) -> None:
    """End, survey, structured data and a later edit of the notes, as far as each applies."""
    c, rng, world = b.c, b.rng, b.world
    c.ended_at = b.now
    c.sentiment = SENTIMENTS.pick(rng)
    if late_csat or bad_csat or rng.random() < 0.3:
        late_at = (
            clock.floor(c.ended_at, clock.DAY) + clock.DAY + rng.randint(1 * clock.HOUR, 20 * clock.HOUR)
        )
        if late_csat and late_at < world.batch_end:
            at = world.after(late_at, 0)
            c.mess.add(Mess.LATE_CSAT)
        else:
            at = world.after(c.ended_at, rng.randint(60, 600) * clock.SECOND)
        rating = RATINGS.pick(rng)
        comment = rng.choice(["Very helpful", "Took too long", "Great service!", None])
        c.survey = Survey(at, rating, comment, rng.randint(1, 5))
        if bad_csat and at < world.batch_end:
            c.csat_value = rng.choice(["N/A", rating * 100.0 - 62.5])  # "N/A", or a fraction like 437.5
            c.mess.add(Mess.BAD_ATTRIBUTE_VALUES)
    if escalated and rng.random() < 0.85:
        at = world.after(c.ended_at, rng.randint(20, 60) * clock.SECOND)
        c.structured = StructuredData(at, ulid(rng, c.start), uuid4(rng))
    if restated and c.notes is not None:
        at = world.after(c.ended_at, rng.randint(1 * clock.HOUR, 3 * clock.HOUR))
        if at < world.batch_end:
            c.notes_edit = (at, f"{c.notes}; customer called back, follow-up done")
            c.mess.add(Mess.RESTATED_CONVERSATIONS)
