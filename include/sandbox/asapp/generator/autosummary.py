"""AutoSummary configuration: structured-data fields, the segments that select them, and their values.

Segments are declared as conditions from which both the raw query ASAPP shows
(`platform IN ['ios', 'android']`) and the match used to pick a conversation's fields are derived,
so the exported segments.json always agrees with the exported structured data.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StructuredField:
    field_id: str
    name: str
    category_id: str
    question: str | None = None
    entity_description: str | None = None
    entity_examples: tuple[str, ...] = ()
    active: bool = True

    @property
    def type(self) -> str:
        return "QUESTION" if self.field_id.startswith("q_") else "ENTITY"

    @property
    def category_label(self) -> str:
        """The feed writes categories as words ("Outcome"), the configuration API as ids ("OUTCOME")."""
        return self.category_id.capitalize()


@dataclass(frozen=True)
class Segment:
    segment_id: str
    name: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...]
    """(metadata field, accepted values) pairs, all of which must hold; none means TRUE."""
    field_ids: tuple[str, ...] = field(default=())

    @property
    def raw_query(self) -> str:
        if not self.conditions:
            return "TRUE"
        return " AND ".join(
            f"{name} = '{values[0]}'"
            if len(values) == 1
            else f"{name} IN [{', '.join(repr(v) for v in values)}]"
            for name, values in self.conditions
        )

    def matches(self, metadata: dict[str, str]) -> bool:
        return all(metadata.get(name) in values for name, values in self.conditions)

    def as_config(self) -> dict:
        """The shape of GET /configuration/v1/segments items (NOTES §5.2)."""
        return {
            "id": self.segment_id,
            "name": self.name,
            "query": {"type": "raw", "raw": self.raw_query},
            "structuredDataFieldIds": list(self.field_ids),
        }


FIELDS = (
    StructuredField(
        "q_issue_resolved", "Issue resolved", "OUTCOME", question="Was the customer's issue resolved?"
    ),
    StructuredField(
        "q_issue_escalated",
        "Issue escalated",
        "OUTCOME",
        question="Was the issue escalated to another agent or team?",
    ),
    StructuredField(
        "e_product",
        "Product Name",
        "OUTCOME",
        entity_description="Product of the company being discussed in the conversation",
        entity_examples=("Unlimited Plus", "Fiber 500"),
    ),
    StructuredField(
        "q_promotion_was_offered",
        "Promotion was offered",
        "OUTCOME",
        question="Did the agent offer the correct promotion?",
    ),
    StructuredField(
        "e_account_number",
        "Account Number",
        "CUSTOM",
        entity_description="The customer's account number",
        entity_examples=("8999246118",),
    ),
    StructuredField(
        "q_refund_requested", "Refund requested", "CUSTOM", question="Did the customer ask for a refund?"
    ),
    StructuredField(
        "q_customer_verified",
        "Customer verified",
        "CUSTOM",
        question="Did the agent verify the customer's identity?",
    ),
    StructuredField(
        "e_competitor",
        "Competitor mentioned",
        "CUSTOM",
        entity_description="A competitor the customer mentioned",
        entity_examples=("Initrode",),
        active=False,
    ),
)
FIELDS_BY_ID = {f.field_id: f for f in FIELDS}

_PRODUCTS = {
    "wireless": ["Unlimited Plus", "Prepaid 30", "Family Share"],
    "billing": ["AutoPay", "Paper Bill"],
    "broadband": ["Fiber 500", "Fiber 1000", "DSL Basic"],
}


def segments(company: str) -> tuple[Segment, ...]:
    return (
        Segment("GLOBAL", "Global", (), ("q_issue_resolved", "q_issue_escalated", "e_product")),
        Segment(
            "BILLING",
            "Billing",
            (("company_subdivision", (f"{company.upper()}billing",)),),
            ("e_account_number", "q_refund_requested"),
        ),
        Segment("MOBILE_APPS", "Mobile apps", (("platform", ("ios", "android")),), ("q_customer_verified",)),
        Segment(
            "WEB_SALES",
            "Web sales",
            (("platform", ("web",)), ("device_type", ("desktop",))),
            ("q_promotion_was_offered", "e_competitor"),
        ),
    )


def extracted_fields(company: str, metadata: dict[str, str]) -> list[StructuredField]:
    """The active fields of every segment the conversation matches, in declaration order."""
    wanted = {fid for segment in segments(company) if segment.matches(metadata) for fid in segment.field_ids}
    return [f for f in FIELDS if f.field_id in wanted and f.active]


def field_segment_ids(company: str) -> dict[str, list[str]]:
    membership: dict[str, list[str]] = {f.field_id: [] for f in FIELDS}
    for segment in segments(company):
        for field_id in segment.field_ids:
            membership[field_id].append(segment.segment_id)
    return membership


@dataclass(frozen=True)
class Outcome:
    """What the conversation was like, which is what the structured data answers."""

    resolved: bool
    transferred: bool
    lob: str
    refund_asked: bool
    account_number: str


_VALUES: dict[str, Callable[[random.Random, Outcome], str]] = {
    "q_issue_resolved": lambda rng, o: "Yes" if o.resolved else "No",
    "q_issue_escalated": lambda rng, o: "Yes" if o.transferred else "No",
    "e_product": lambda rng, o: rng.choice(_PRODUCTS[o.lob]),
    "q_promotion_was_offered": lambda rng, o: rng.choice(["Yes", "No"]),
    "e_account_number": lambda rng, o: o.account_number,
    "q_refund_requested": lambda rng, o: "Yes" if o.refund_asked else "No",
    "q_customer_verified": lambda rng, o: "Yes" if rng.random() < 0.9 else "No",
}


def value(structured_field: StructuredField, rng: random.Random, outcome: Outcome) -> str:
    return _VALUES[structured_field.field_id](rng, outcome)
