"""The people and organisations behind the rows: reps, customers, end-customer companies, queues.

Reps are few and kept in a roster. Customers and companies can number millions, so each is derived
from its index on demand (same seed and index, same entity) and never stored.
"""

import dataclasses
import functools
import math
import random
import re
import unicodedata
from dataclasses import dataclass

from . import clock
from .mess import Mess, MessPlan
from .randomness import Weighted, stream

FIRST_NAMES = [
    "Anne",
    "James",
    "Maria",
    "José",
    "Zoë",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Lucas",
    "Sofía",
    "Mateo",
    "Chloé",
    "Jürgen",
    "Aoife",
    "Priya",
    "Wei",
    "Fatima",
    "Omar",
    "Yuki",
    "Kwame",
    "Ingrid",
    "Lars",
    "Elena",
    "Dmitri",
    "Ana",
    "João",
    "Camille",
    "Hannah",
    "David",
    "Sarah",
    "Michael",
    "Aisha",
    "Carlos",
    "Léa",
    "Mohammed",
    "Grace",
    "Tomás",
    "Björn",
    "Nadia",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "García",
    "Müller",
    "Martin",
    "Rossi",
    "O'Brien",
    "Nguyen",
    "Kim",
    "Silva",
    "Dubois",
    "Schmidt",
    "Kowalski",
    "Andersson",
    "Okafor",
    "Patel",
    "Chen",
    "Haddad",
    "Tanaka",
    "Fernández",
    "Moreau",
    "Costa",
    "Novak",
    "Cohen",
    "Brown",
    "Wilson",
    "López",
    "Santos",
    "Weber",
    "Bianchi",
    "Murphy",
    "Singh",
]

CUSTOMER_LANGUAGES = Weighted({"en": 70, "es": 10, "fr": 7, "de": 7, "pt": 6})
_HOME = {  # language -> (country, state, zipcode) candidates
    "en": [
        ("United-States", "New-York", "10001"),
        ("United-States", "California", "94103"),
        ("United-States", "Texas", "73301"),
        ("Canada", "Ontario", "M5V 2T6"),
    ],
    "es": [("Spain", "Madrid", "28001"), ("United-States", "Florida", "33101"), ("Mexico", "CDMX", "06000")],
    "fr": [("France", "Île-de-France", "75001"), ("Canada", "Québec", "H2X 1Y4")],
    "de": [("Germany", "Berlin", "10115"), ("Austria", "Wien", "1010")],
    "pt": [("Brazil", "São-Paulo", "01000-000"), ("Portugal", "Lisboa", "1100-148")],
}
_MAIL_PROVIDERS = ["mail.example", "inbox.example", "post.example"]
_CUSTOMER_PLANS = Weighted({"basic": 40, "silver": 30, "gold": 20, "platinum": 10})
_CUSTOMER_STATUSES = Weighted({"new": 20, "active": 70, "vip": 10})

_COMPANY_ROOTS = [
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Acorn",
    "Pied Piper",
    "Soylent",
    "Tyrell",
    "Wonka",
    "Cyberdyne",
    "Aperture",
    "Oscorp",
    "Monarch",
    "Nakatomi",
    "Gringotts",
    "Dunder",
    "Massive",
    "Zenith",
    "Blue Sun",
    "Octan",
    "Virtucon",
    "Bluth",
    "Sterling",
    "Krusty",
    "Oceanic",
    "Prestige",
    "Duff",
    "Gekko",
    "Ollivander",
    "Rekall",
    "Spacely",
    "Cogswell",
    "Wernham",
    "Yoyodyne",
    "Frobozz",
    "Ajax",
    "Nordwind",
]
_COMPANY_KINDS = [
    "",
    "Logistics",
    "Foods",
    "Labs",
    "Systems",
    "Partners",
    "Health",
    "Energy",
    "Media",
    "Motors",
    "Retail",
    "Capital",
    "Robotics",
    "Studios",
    "Farms",
    "Airlines",
    "Telecom",
    "Textiles",
    "Pharma",
    "Builders",
    "Consulting",
    "Analytics",
    "Marine",
    "Outfitters",
    "Holdings",
]
_COMPANY_SUFFIXES = ["LLC", "Inc", "GmbH", "SA", "Ltd"]
_INDUSTRIES = [
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Technology",
    "Logistics",
    "Finance",
    "Energy",
    "Media",
]
_REGIONS = ["EMEA", "NA", "LATAM", "APAC"]
MAX_COMPANIES = len(_COMPANY_ROOTS) * len(_COMPANY_KINDS) * len(_COMPANY_SUFFIXES)

CUSTOMER_ID_BASE = 1_470_001
REP_ID_BASE = 123_001
REP_ATTRIBUTE_ID_BASE = 1_200_001
BOT_SENDER_ID = 100_001
"""utterances.sender_id of the tenant's virtual agent (ASAPP documents none; bots need an id for the key)."""
SYSTEM_SENDER_ID = 100_000
"""utterances.sender_id of the platform's own notices (the unknown_sender_types mess kind)."""
UNKNOWN_REP_ID_BASE = 190_001
"""rep_id of agents that write but appear in neither reps nor rep_attributes (unknown_agents), + issue
index."""


def ascii_slug(text: str) -> str:
    """ "Zoë O'Brien" -> "zoeobrien": the part of a name that fits an email address."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


@dataclass(frozen=True)
class Queue:
    queue_id: str
    name: str
    lob: str
    language: str
    subdivision: str
    weight: int


def queues(company: str) -> list[Queue]:
    """The tenant's routing queues, one line of business and language each."""
    plan = [
        ("20001", "wireless", "en", 30),
        ("20002", "wireless", "es", 8),
        ("20003", "billing", "en", 25),
        ("20004", "broadband", "en", 20),
        ("20005", "broadband", "fr", 6),
        ("20006", "billing", "de", 6),
        ("20007", "wireless", "pt", 5),
        ("20008", "billing", "es", 4),
    ]
    names = {"en": "english", "es": "spanish", "fr": "french", "de": "german", "pt": "portuguese"}
    return [
        Queue(
            queue_id, f"{company}-{lob}-{names[language]}", lob, language, f"{company.upper()}{lob}", weight
        )
        for queue_id, lob, language, weight in plan
    ]


@dataclass(frozen=True)
class Rep:
    index: int
    rep_id: str
    crm_rep_id: str
    first: str
    last: str
    external_rep_id: str
    role: str
    jobcode: str
    companygroup: str
    max_slot: int
    queue_ids: tuple[str, ...]
    created_at: int
    has_email: bool
    change: "RepChange | None"

    @property
    def name(self) -> str:
        """ASAPP's "Smith, Anne" form."""
        return f"{self.last}, {self.first}"

    def email(self, company: str) -> str:
        return f"{self.crm_rep_id}@{company}-support.example"

    @property
    def sender_id(self) -> int:
        return int(self.rep_id)

    def as_of(self, at: int) -> "Rep":
        """The rep as the daily snapshot of `at` shows it (after a change, the changed values)."""
        if self.change is None or at < self.change.at:
            return self
        return dataclasses.replace(
            self, last=self.change.last, max_slot=self.change.max_slot, companygroup=self.change.companygroup
        )


@dataclass(frozen=True)
class RepChange:
    at: int
    last: str
    max_slot: int
    companygroup: str


def rep_count(conversations: int) -> int:
    """Dozens, growing gently: 12 at 10 conversations, about 28 at 1k, 54 at 2M."""
    return round(12 + 8 * math.log10(max(conversations, 10) / 10))


def build_roster(
    seed: int, count: int, company: str, batch_start: int, days: int, mess: MessPlan
) -> list[Rep]:
    tenant_queues = queues(company)
    used_logins: set[str] = set()
    used_external: set[str] = set()
    roster = []
    for index in range(count):
        rng = stream(seed, "rep", index)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        login = _unique(f"{ascii_slug(first)}.{ascii_slug(last)}", used_logins)
        external = _unique(f"{rng.randrange(10**10):010d}", used_external)
        supervisor = index % 8 == 0
        role = ("manager" if index == 0 else "lead") if supervisor else "representative"
        queue = tenant_queues[(index - index // 8 - 1) % len(tenant_queues)]
        serves = (
            (queue.queue_id,)
            if queue.language != "en"
            else tuple(q.queue_id for q in tenant_queues if q.language == "en")
        )
        change = None
        if days >= 2 and mess.picks(Mess.CHANGED_REPS, index, count):
            change = RepChange(
                at=batch_start + rng.randrange(1, days) * clock.DAY,
                last=rng.choice([name for name in LAST_NAMES if name != last]),
                max_slot=rng.randint(2, 6),
                companygroup=rng.choice([q.lob for q in tenant_queues if q.lob != queue.lob]),
            )
        roster.append(
            Rep(
                index=index,
                rep_id=str(REP_ID_BASE + index),
                crm_rep_id=login,
                first=first,
                last=last,
                external_rep_id=external,
                role=role,
                jobcode={"manager": "MGR1", "lead": "SUP1"}.get(role, rng.choice(["CSR1", "CSR2"])),
                companygroup=queue.lob,
                max_slot=rng.randint(2, 6),
                queue_ids=() if supervisor else serves,
                created_at=batch_start - rng.randint(30, 900) * clock.DAY,
                has_email=not mess.picks(Mess.AGENTS_WITHOUT_EMAIL, index, count),
                change=change,
            )
        )
    return roster


def unknown_agent(seed: int, index: int, queue: Queue, batch_start: int) -> Rep:
    """An agent who handles conversation `index` but is in neither reps nor rep_attributes
    (unknown_agents)."""
    rng = stream(seed, "unknown-agent", index)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return Rep(
        index=-1,
        rep_id=str(UNKNOWN_REP_ID_BASE + index),
        crm_rep_id=f"{ascii_slug(first)}.{ascii_slug(last)}.contractor",
        first=first,
        last=last,
        external_rep_id=f"{rng.randrange(10**10):010d}",
        role="representative",
        jobcode="CSR1",
        companygroup=queue.lob,
        max_slot=3,
        queue_ids=(queue.queue_id,),
        created_at=batch_start - rng.randint(1, 30) * clock.DAY,
        has_email=False,
        change=None,
    )


def _unique(candidate: str, used: set[str]) -> str:
    value, number = candidate, 1
    while value in used:
        number += 1
        value = f"{candidate}{number}"
    used.add(value)
    return value


@dataclass(frozen=True)
class Company:
    external_id: str
    name: str
    domain: str
    industry: str
    website: str | None
    size: int
    plan: str
    created_at: int
    region: str


def company_count(conversations: int) -> int:
    return max(5, min(MAX_COMPANIES, conversations // 25))


def _company_name_parts(index: int) -> tuple[str, str, int]:
    """Root, kind and suffix number: a different combination for every index below MAX_COMPANIES."""
    root = _COMPANY_ROOTS[index % len(_COMPANY_ROOTS)]
    kind = _COMPANY_KINDS[index // len(_COMPANY_ROOTS) % len(_COMPANY_KINDS)]
    return root, kind, index // (len(_COMPANY_ROOTS) * len(_COMPANY_KINDS))


def company_domain(index: int) -> str:
    root, kind, suffix_index = _company_name_parts(index)
    return f"{ascii_slug(root + kind)}{suffix_index or ''}.example"


def company_external_id(index: int) -> str:
    return f"co_{index + 1:06d}"


INVALID_WEBSITES = ("htp:/bad site", "www {root} com", "https://", "http//{domain}", "{domain} (main site)")


def invalid_website(rng: random.Random, company: Company) -> str:
    """A website value no URL parser accepts (invalid_websites)."""
    root = company.domain.split(".")[0]
    return rng.choice(INVALID_WEBSITES).format(root=root, domain=company.domain)


def derive_company(seed: int, index: int, batch_start: int) -> Company:
    rng = stream(seed, "company", index)
    root, kind, suffix_index = _company_name_parts(index)
    domain = company_domain(index)
    return Company(
        external_id=company_external_id(index),
        name=" ".join(part for part in (root, kind, _COMPANY_SUFFIXES[suffix_index]) if part),
        domain=domain,
        industry=rng.choice(_INDUSTRIES),
        website=None if rng.random() < 0.15 else f"https://{domain}",
        size=int(rng.lognormvariate(4, 1.5)) + 2,
        plan=rng.choice(["starter", "business", "enterprise"]),
        created_at=batch_start - rng.randint(100, 3000) * clock.DAY,
        region=rng.choice(_REGIONS),
    )


@dataclass(frozen=True)
class Customer:
    index: int
    customer_id: int
    external_id: str
    first: str
    last: str
    email: str | None
    phone: str
    language: str
    home: tuple[str, str, str]
    company_index: int | None
    status: str
    plan: str
    company_ref: str | None = None
    """company_external_id as exported: the company's id, or for dangling_companies one that names no
    company."""

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


def _scramble(index: int, seed: int) -> int:
    """A 48-bit number that looks random but is a bijection of the index, so ids never collide.

    Adding, multiplying by an odd number and xor-shifting are all invertible modulo 2**48.
    """
    mask = (1 << 48) - 1
    value = (index * 0x9E3779B97F4B + seed * 0x5851F42D4C95) & mask
    value ^= value >> 23
    value = (value * 0xD6E8FEB86659) & mask
    return value ^ (value >> 19)


def customer_count(conversations: int) -> int:
    """About 0.7 customers per conversation: most customers write once, some come back."""
    return max(1, math.ceil(conversations * 0.7))


INVALID_EMAILS = (
    "not-an-email",
    "{local}@",
    "{first} {last}@{domain}",
    "{local}@@{domain}",
    "{local}@{domain}.",
)
"""What people type into an email field: malformed, never deliverable (invalid_emails)."""


class Customers:
    """Derives customer `index` of the run, always identically, so none has to be remembered.

    The customer-level mess kinds exclude each other (a customer carries at most one of twin,
    colliding, dangling, invalid email, dangling company; restated customers combine with any),
    each shifted past the members an earlier kind took, so every kind keeps its cases.
    """

    def __init__(
        self,
        seed: int,
        count: int,
        companies: int,
        mess: MessPlan,
        conversations: int = 0,
        open_at_boundary: int = 0,
    ) -> None:
        self.seed, self.count, self.companies, self.mess = seed, count, companies, mess
        self.conversations, self.open_at_boundary = conversations or count, open_at_boundary
        # pure functions of the index, asked again and again about the recent (returning) customers
        for name in (
            "is_email_twin",
            "is_collider",
            "_collision",
            "is_dangling",
            "_invalid_email",
            "_dangling_company",
        ):
            setattr(self, name, functools.lru_cache(maxsize=2048)(getattr(self, name)))

    def is_email_twin(self, index: int) -> bool:
        """A second account of the previous customer, with the same email in different case."""
        return (
            index >= 1
            and self.mess.picks(Mess.EMAIL_CASE_DUPLICATES, index, self.count)
            and not self.mess.picks(Mess.EMAIL_CASE_DUPLICATES, index - 1, self.count)
        )

    def twin_member(self, index: int) -> bool:
        return self.is_email_twin(index) or self.is_email_twin(index + 1)

    def is_collider(self, index: int) -> bool:
        """A customer whose external_customer_id repeats that of the customer just before (the keeper)."""
        return self._collision(index) and not self._collision(index - 1)

    def _collision(self, index: int) -> bool:
        return index >= 1 and self.mess.assigned(
            Mess.COLLIDING_EXTERNAL_IDS,
            index,
            self.count,
            lambda k: k < 1 or self.twin_member(k) or self.twin_member(k - 1),
        )

    def _paired(self, index: int) -> bool:
        """A member of an email-twin or colliding pair: it takes no other exclusive kind."""
        return self.twin_member(index) or self.is_collider(index) or self.is_collider(index + 1)

    # The exclusive kinds in precedence order; each is shifted past the members the earlier ones took.

    def is_dangling(self, index: int) -> bool:
        """A customer used by exactly one conversation and never exported in the customers feed. Never the
        first customer, nor one brought in by a conversation still open at the boundary."""
        return self.mess.assigned(
            Mess.DANGLING_CUSTOMERS,
            index,
            self.count,
            lambda k: (
                self._paired(k) or k < 1 or self.introducer(k) >= self.conversations - self.open_at_boundary
            ),
        )

    def _invalid_email(self, index: int) -> bool:
        return self.mess.assigned(
            Mess.INVALID_EMAILS, index, self.count, lambda k: self._paired(k) or self.is_dangling(k)
        )

    def _dangling_company(self, index: int) -> bool:
        return self.mess.assigned(
            Mess.DANGLING_COMPANIES,
            index,
            self.count,
            lambda k: self._paired(k) or self.is_dangling(k) or self._invalid_email(k),
        )

    def kinds(self, index: int) -> frozenset[Mess]:
        """The customer's one exclusive kind, if any (restated_customers combines with anything)."""
        for kind, test in (
            (Mess.DANGLING_CUSTOMERS, self.is_dangling),
            (Mess.INVALID_EMAILS, self._invalid_email),
            (Mess.DANGLING_COMPANIES, self._dangling_company),
        ):
            if test(index):
                return frozenset({kind})
        return frozenset()

    def introducer(self, index: int) -> int:
        """The batch conversation that brings customer `index` in (see World.customer_for)."""
        return index * self.conversations // self.count

    def get(self, index: int) -> Customer:
        if self.is_email_twin(index):
            original = self._derive(index - 1, needs_email=True)
            twin = self._derive(index, needs_email=True)
            local, domain = original.email.split("@")
            return Customer(
                **{
                    **vars(twin),
                    "first": original.first,
                    "last": original.last,
                    "email": f"{'.'.join(part.capitalize() for part in local.split('.'))}@{domain}",
                }
            )
        colliding = self.is_collider(index)
        customer = self._derive(
            index, needs_email=self.is_email_twin(index + 1) or colliding or self.is_collider(index + 1)
        )
        if colliding:
            return dataclasses.replace(
                customer, external_id=self._derive(index - 1, needs_email=True).external_id
            )
        kinds = self.kinds(index)
        if Mess.INVALID_EMAILS in kinds:
            rng = stream(self.seed, "invalid-email", index)
            local, _, domain = (
                customer.email
                or f"{ascii_slug(customer.first)}.{ascii_slug(customer.last)}{index}@{_MAIL_PROVIDERS[0]}"
            ).partition("@")
            email = rng.choice(INVALID_EMAILS).format(
                local=local, domain=domain, first=customer.first.lower(), last=customer.last.lower()
            )
            return dataclasses.replace(customer, email=email)
        if Mess.DANGLING_COMPANIES in kinds:
            return dataclasses.replace(customer, company_ref=company_external_id(MAX_COMPANIES + index))
        return customer

    def _derive(self, index: int, needs_email: bool) -> Customer:
        rng = stream(self.seed, "customer", index)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        language = CUSTOMER_LANGUAGES.pick(rng)
        company_index = int(self.companies * rng.random() ** 1.7) if rng.random() < 0.8 else None
        local = f"{ascii_slug(first)}.{ascii_slug(last)}{index}"
        if company_index is not None:
            email = f"{local}@{company_domain(company_index)}"
        else:
            email = f"{local}@{rng.choice(_MAIL_PROVIDERS)}"
        has_email = needs_email or rng.random() < 0.93
        return Customer(
            index=index,
            customer_id=CUSTOMER_ID_BASE + index,
            external_id=f"{_scramble(index, self.seed):012X}",
            first=first,
            last=last,
            email=email if has_email else None,
            phone=f"({rng.randint(201, 989)}){rng.randint(200, 999)}-{rng.randrange(10000):04d}",
            language=language,
            home=rng.choice(_HOME[language]),
            company_index=company_index,
            status=_CUSTOMER_STATUSES.pick(rng),
            plan=_CUSTOMER_PLANS.pick(rng),
            company_ref=None if company_index is None else company_external_id(company_index),
        )
