"""Feed rows: each feed's view of the simulated conversations, customers, companies and reps.

Every builder yields (feed, time, row) where time decides the partition; rows are dicts in the
feed's column order (every column present, null when it does not apply), ready to serialize.
"""

from collections.abc import Iterator

import orjson

from . import autosummary, clock, texts
from .conversations import Assignment, Conversation, Message, Survey, Upload
from .entities import REP_ATTRIBUTE_ID_BASE, Company, Customer, Rep
from .feeds import FEEDS
from .mess import Mess
from .randomness import stream
from .world import World

Row = tuple[str, int, dict]

APP_VERSION_ASAPP = "com.asapp.api_api:-2f1a053f70c57f94752e7616b66f56d7bf1d6675"
APP_VERSION_CLIENT = {"web": "web-sdk-4.0.0", "ios": "ios-sdk-8.2.1", "android": "android-sdk-8.1.0"}
ENDED_FLAG = {"resolved": "ended_resolved", "unresolved": "ended_unresolved", "timeout": "ended_timeout"}
REP_ATTRIBUTES = ("role", "email", "companygroup", "jobcode")
REP_STATUSES = ("80001", "80001", "80001", "80002", "80003")
"""rep_status codes ASAPP shows (80001) for available, away and offline; mostly available."""
_TIMESTAMP_STYLES = {None: clock.feed_ts, "spaced": clock.spaced_ts, "naive": clock.naive_ts}


def _same(value):
    return value


def _template(feed: str) -> dict:
    return dict.fromkeys(FEEDS[feed].column_names)


class RowFactory:
    def __init__(self, world: World) -> None:
        self.world = world
        self.tenant = world.company
        self.templates = {feed: _template(feed) for feed in FEEDS}

    def _row(self, feed: str, **values) -> dict:
        row = self.templates[feed].copy()
        row.update(values)
        return row

    # -- conversations ----------------------------------------------------------------------------

    def conversation_rows(self, c: Conversation) -> Iterator[Row]:
        yield from self._convos_metadata(c)
        as_text = (
            str if Mess.NUMBERS_AS_STRINGS in c.mess else _same
        )  # numbers_as_strings: ids as JSON strings
        for message in c.messages:
            yield (
                "utterances",
                message.at,
                self._row(
                    "utterances",
                    instance_ts=clock.feed_ts(clock.floor(message.at, clock.WINDOW)),
                    created_ts=clock.feed_ts(message.at),
                    company_subdivision=c.queue.subdivision,
                    company_segments=c.company_segments,
                    sender_id=as_text(message.sender_id),
                    sender_type=message.sender_type,
                    utterance_type=message.utterance_type,
                    utterance=message.text,
                    issue_id=as_text(c.issue_id),
                    sent_to_rep=message.sent_to_rep,
                    company_name=self.tenant,
                    event_uuid=message.event_uuid,
                ),
            )
            if message.upload is not None:
                yield "file_uploads", message.at, self._file_upload(c, message.upload, message.event_uuid)
        if c.params is not None:
            yield from self._customer_params(c)
        if c.survey is not None:
            yield from self._customer_feedback(c, c.survey)
        if c.structured is not None:
            yield from self._structured_data(c)

    def _convos_metadata(self, c: Conversation) -> Iterator[Row]:
        """One row per 15-minute window with activity, holding the state at the end of that window."""
        ts = _TIMESTAMP_STYLES[c.timestamp_style]
        web = c.platform == "web"
        as_text = str if Mess.NUMBERS_AS_STRINGS in c.mess else _same
        row = self._row(
            "convos_metadata",
            company_subdivision=c.queue.subdivision,
            company_segments=c.company_segments,
            issue_created_ts=ts(c.start),
            issue_id=as_text(c.issue_id),
            session_id=c.session_id,
            session_type="asapp-uuid",
            internal_session_id=c.session_id,
            internal_session_type="asapp-uuid",
            internal_user_identifier=str(c.customer.customer_id),
            internal_user_session_type="customer",
            external_session_id=c.external_session_id,
            external_session_type="visitID" if web else None,
            external_user_id=c.customer.external_id if c.authenticated else None,
            external_user_type=f"{self.tenant}_CUSTOMER_ACCOUNT_ID" if c.authenticated else None,
            customer_id=as_text(c.customer.customer_id),
            escalated_to_chat=0,
            platform=c.platform,
            device_type=c.device,
            ended_resolved=0,
            ended_unresolved=0,
            ended_timeout=0,
            ended_auto=0,
            ended_other=0,
            app_version_asapp=APP_VERSION_ASAPP,
            app_version_client=APP_VERSION_CLIENT[c.platform],
            issue_queue_id=c.queue.queue_id,
            issue_queue_name=c.queue.name,
            auth_state="true" if c.authenticated else "false",
            auth_external_token_id=c.auth_token,
            auth_source="sdk-login" if c.authenticated else None,
            auth_external_user_type=f"{self.tenant.upper()}_CUSTOMER_ACCOUNT_ID" if c.authenticated else None,
            auth_external_user_id=c.customer.external_id if c.authenticated else None,
            is_review_required=False,
            company_name=self.tenant,
            current_page_url=f"https://www.{self.tenant}.example/{c.queue.lob}/help" if web else None,
            raw_current_page_url=(
                f"https://www.{self.tenant}.example/{c.queue.lob}/help?utm_source=app&session={c.session_id[:8]}"
                if web
                else None
            ),
            language_code=texts.LANGUAGES[c.language],
            last_sequence_id=0,
        )
        window = None
        sequence = 0
        for at, kind, item in c.timeline():
            if at >= self.world.batch_end:
                break
            if kind in ("params", "queued"):
                continue  # no convos_metadata column records them
            if window is not None and clock.floor(at, clock.WINDOW) != window:
                yield self._window_row(row, window)
            window = clock.floor(at, clock.WINDOW)
            if kind == "message":
                sequence += 1
                self._apply_message(row, item, sequence, ts)
            elif kind == "assigned":
                self._apply_assignment(row, item, ts)
            elif kind == "ended":
                self._apply_end(row, c, ts)
            elif kind == "survey":
                row["csat_rating"] = item.rating * 100.0 if c.csat_value is None else c.csat_value
            elif kind == "notes edited":
                row["disposition_notes"] = item
            else:
                row["last_event_ts"] = ts(at)
        if window is not None:
            yield self._window_row(row, window)

    @staticmethod
    def _apply_message(row: dict, message: Message, sequence: int, ts) -> None:
        row["last_sequence_id"] = sequence
        row["last_event_ts"] = ts(message.at)
        if message.sender_type == "customer" and row["first_utterance_ts"] is None:
            row["first_utterance_ts"] = ts(message.at)
            row["first_utterance_text"] = message.text[:255]
        elif message.sender_type == "bot":
            row["last_srs_event_ts"] = ts(message.at)

    @staticmethod
    def _apply_assignment(row: dict, assignment: Assignment, ts) -> None:
        if row["first_rep_id"] is None:
            row.update(
                first_rep_id=assignment.rep.rep_id,
                assigned_to_rep_time=ts(assignment.at),
                escalated_to_chat=1,
            )
        row.update(
            last_rep_id=assignment.rep.rep_id,
            external_rep_id=assignment.rep.external_rep_id,
            last_event_ts=ts(assignment.at),
        )

    @staticmethod
    def _apply_end(row: dict, c: Conversation, ts) -> None:
        ended = ts(c.ended_at)
        flag = (
            ENDED_FLAG[c.disposition]
            if c.disposition
            else "ended_auto"
            if c.termination == "autoend"
            else "ended_other"
        )
        row.update(
            {flag: 1},
            conversation_end_ts=ended,
            last_event_ts=ended,
            termination_event_type=c.termination,
            disposition_event_type=c.disposition,
            disposition_ts=ended if c.disposition else None,
            disposition_notes=c.notes,
            sentiment_valence=c.sentiment,
        )

    @staticmethod
    def _window_row(row: dict, window: int) -> Row:
        row["session_event_type"] = "UPDATE" if row["instance_ts"] else "CREATE"
        row["instance_ts"] = clock.feed_ts(window)
        return "convos_metadata", window, row.copy()

    def _file_upload(self, c: Conversation, upload: Upload, event_uuid: str) -> dict:
        return self._row(
            "file_uploads",
            **upload.file_item(),
            issue_id=c.issue_id,
            customer_id=c.customer.customer_id,
            sender_type="customer",
            event_uuid=event_uuid,
            instance_ts=clock.feed_ts(clock.floor(upload.at, clock.WINDOW)),
            company_name=self.tenant,
        )

    def orphan_upload_row(self, issue_id: int, customer_id: int, upload: Upload, event_uuid: str) -> Row:
        """A file_uploads row of a conversation no other feed has (orphan_uploads); no utterance carried
        it."""
        return (
            "file_uploads",
            upload.at,
            self._row(
                "file_uploads",
                **upload.file_item(),
                issue_id=issue_id,
                customer_id=customer_id,
                sender_type="customer",
                event_uuid=event_uuid,
                instance_ts=clock.feed_ts(clock.floor(upload.at, clock.WINDOW)),
                company_name=self.tenant,
            ),
        )

    def _customer_params(self, c: Conversation) -> Iterator[Row]:
        params = c.params
        web_page = f"https://www.{self.tenant}.example/{c.queue.lob}/help" if c.platform == "web" else None
        encoded = orjson.dumps(params.values, option=orjson.OPT_SORT_KEYS).decode()
        for key, value in params.values.items():
            yield (
                "customer_params",
                params.at,
                self._row(
                    "customer_params",
                    instance_ts=clock.feed_ts(clock.floor(params.at, clock.WINDOW)),
                    event_ts=clock.feed_ts(params.at),
                    issue_id=c.issue_id,
                    company_subdivision=c.queue.subdivision,
                    company_segments=c.company_segments,
                    customer_id=c.customer.customer_id,
                    referring_page_url=f"https://www.{self.tenant}.example/" if web_page else None,
                    event_id=params.event_id,
                    platform=c.platform,
                    session_id=c.session_id,
                    auth_state=c.authenticated,
                    params=encoded,
                    param_key=key,
                    param_value=value,
                    company_name=self.tenant,
                    current_page_url=web_page,
                ),
            )

    def _customer_feedback(self, c: Conversation, survey: Survey) -> Iterator[Row]:
        last_rep = c.assignments[-1].rep.rep_id if c.assignments else None
        for response in survey.responses():
            yield (
                "customer_feedback",
                survey.at,
                self._row(
                    "customer_feedback",
                    instance_ts=clock.feed_ts(clock.floor(survey.at, clock.WINDOW)),
                    **response,
                    issue_id=c.issue_id,
                    last_rep_id=last_rep,
                    company_name=self.tenant,
                    company_subdivision=c.queue.subdivision,
                    company_segments=c.company_segments,
                    platform=c.platform,
                    feedback_type="FEEDBACK_AGENT" if last_rep else "FEEDBACK_BOT",
                    feedback_form_type="ASAPP_CSAT",
                ),
            )

    def _structured_data(self, c: Conversation) -> Iterator[Row]:
        data = c.structured
        rng = stream(self.world.seed, "structured", c.issue_id)
        outcome = autosummary.Outcome(
            resolved=c.resolved,
            transferred=len(c.assignments) > 1,
            lob=c.queue.lob,
            refund_asked=c.intent == "billing" and rng.random() < 0.4,
            account_number=str(rng.randint(10**9, 10**10 - 1)),
        )
        metadata = {
            "platform": c.platform,
            "device_type": c.device,
            "company_subdivision": c.queue.subdivision,
        }
        hour = clock.floor(data.at, clock.HOUR)
        for structured_field in autosummary.extracted_fields(self.tenant, metadata):
            yield (
                "autosummary_structured_data",
                data.at,
                self._row(
                    "autosummary_structured_data",
                    instance_ts=clock.feed_ts(hour),
                    conversation_id=data.conversation_id,
                    external_conversation_id=str(c.issue_id),
                    agent_id=c.assignments[-1].rep.external_rep_id,
                    structured_data_id=data.structured_data_id,
                    structured_data_ts=clock.feed_ts(data.at),
                    structured_data_field_id=structured_field.field_id,
                    structured_data_field_name=structured_field.name,
                    structured_data_field_value=autosummary.value(structured_field, rng, outcome),
                    structured_data_field_category=structured_field.category_label,
                    company_marker=self.tenant,
                    dt=clock.day_text(hour),
                    hr=clock.hour_text(hour),
                ),
            )

    # -- customers and companies ----------------------------------------------------------------

    def customer_row(self, customer: Customer, at: int, first_seen: int, restated: bool = False) -> Row:
        """A customers row exported on the day of `at` (first seen, or restated later with changes)."""
        rng = stream(self.world.seed, "customer-restated", customer.index) if restated else None
        plan = rng.choice(["gold", "platinum"]) if rng else customer.plan
        return (
            "customers",
            at,
            self._row(
                "customers",
                customer_id=customer.customer_id,
                external_customer_id=customer.external_id,
                external_user_type=f"{self.tenant}_CUSTOMER_ACCOUNT_ID",
                status="active" if restated else customer.status,
                email_address=customer.email,
                phone_number=f"(555){rng.randint(200, 999)}-{rng.randrange(10000):04d}"
                if rng
                else customer.phone,
                user_id=f"user{100000 + customer.index}",
                name=customer.name,
                address_country=customer.home[0],
                address_state=customer.home[1],
                address_zipcode=customer.home[2],
                company_external_id=customer.company_ref,
                first_seen_ts=clock.feed_ts(first_seen),
                last_seen_ts=clock.feed_ts(at),
                attributes=[
                    {"name": "plan", "value": plan},
                    {"name": "preferred_language", "value": customer.language},
                ],
                company_name=self.tenant,
                dt=clock.day_text(at),
                hr="00",
            ),
        )

    def company_row(self, company: Company, at: int) -> Row:
        return (
            "companies",
            at,
            self._row(
                "companies",
                company_external_id=company.external_id,
                name=company.name,
                industry=company.industry,
                website=company.website,
                domain=company.domain,
                size=company.size,
                plan=company.plan,
                created_ts=clock.feed_ts(company.created_at),
                attributes=[{"name": "region", "value": company.region}],
                company_name=self.tenant,
                dt=clock.day_text(at),
                hr="00",
            ),
        )

    # -- reps and configuration -----------------------------------------------------------------

    def rep_snapshot(self, rep: Rep, day: int) -> Row:
        current = rep.as_of(day)
        rng = stream(self.world.seed, "rep-status", rep.index, day)
        return (
            "reps",
            day,
            self._row(
                "reps",
                created_ts=clock.feed_ts(day),
                name=current.name,
                max_slot=current.max_slot,
                rep_id=rep.rep_id,
                crm_rep_id=rep.crm_rep_id,
                rep_status=rng.choice(REP_STATUSES),
                company_name=self.tenant,
            ),
        )

    def rep_attributes(self, rep: Rep, at: int, names: tuple[str, ...] = REP_ATTRIBUTES) -> Iterator[Row]:
        """The rep's attribute rows as of `at`; ids are stable per (rep, attribute) across restatements."""
        current = rep.as_of(at)
        values = {
            "role": current.role,
            "email": current.email(self.tenant) if current.has_email else None,
            "companygroup": current.companygroup,
            "jobcode": current.jobcode,
        }
        created = rep.change.at if rep.change and at >= rep.change.at else rep.created_at
        for name in names:
            if values[name] is None:
                continue
            yield (
                "rep_attributes",
                at,
                self._row(
                    "rep_attributes",
                    created_ts=clock.feed_ts(created),
                    attribute_name=name,
                    attribute_value=values[name],
                    rep_id=rep.rep_id,
                    rep_attribute_id=REP_ATTRIBUTE_ID_BASE
                    + rep.index * len(REP_ATTRIBUTES)
                    + REP_ATTRIBUTES.index(name),
                    external_rep_id=rep.external_rep_id,
                    company_name=self.tenant,
                ),
            )

    def structured_data_config(self, day: int) -> Iterator[Row]:
        membership = autosummary.field_segment_ids(self.tenant)
        for f in autosummary.FIELDS:
            entity = f.type == "ENTITY"
            yield (
                "structured_data_config",
                day,
                self._row(
                    "structured_data_config",
                    field_id=f.field_id,
                    name=f.name,
                    type=f.type,
                    category_id=f.category_id,
                    active=f.active,
                    question=f.question,
                    entity_name=f.name if entity else None,
                    entity_description=f.entity_description,
                    entity_examples=list(f.entity_examples) if entity else None,
                    segment_ids=membership[f.field_id],
                    dt=clock.day_text(day),
                ),
            )
