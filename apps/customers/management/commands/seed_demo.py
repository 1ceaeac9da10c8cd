"""`manage.py seed_demo`: demo users per role and a few hundred realistic customers, then the
demo contact center (queues, skills, dispositions, agents: `seed_contact_center` of the
interactions app) and the demo campaigns (`seed_campaigns`), each run by name so that this lower
app imports nothing from them.

Idempotent (customers carry external ids "demo-<n>", users are looked up by username: a second
run adds nothing) and deterministic (fixed random seed: every run and every machine gets the same
people). Everything is written through the services, so search text, time zones (derived from
each phone's region), consent times and audit entries are what real use would produce.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create, user_set_roles
from apps.core.actors import SystemActor
from apps.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
)
from apps.customers.services.customers import (
    ContactInput,
    contact_point_set_consent,
    customer_create,
    note_add,
)

SEED = 20_240_601
SEED_DEMO = SystemActor("seed_demo")
"""Who the audit log says created the demo customers and their consent."""
CUSTOMER_COUNT = 300

# username, password, role, first name, last name. Demo only: printed at the end of every run.
DEMO_USERS: tuple[tuple[str, str, Role, str, str], ...] = (
    ("agent", "agent", Role.AGENT, "Alex", "Agent"),
    ("agent2", "agent2", Role.AGENT, "Maria", "Santos"),
    ("supervisor", "supervisor", Role.SUPERVISOR, "Sam", "Supervisor"),
    ("marketer", "marketer", Role.MARKETER, "Morgan", "Marketer"),
    ("admin", "admin", Role.ADMIN, "Ada", "Admin"),
)


@dataclass(frozen=True)
class Country:
    region: str
    # National-number prefixes of known valid ranges (area codes, mobile blocks); the rest of the
    # number is random and checked with phonenumbers.is_valid_number.
    prefixes: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        ("212", "312", "415", "305", "206", "713", "303", "602", "404", "617"),
        ("James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Chris", "Emily"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Moore", "Taylor"),
    ),
    Country(
        "CA",
        ("416", "604", "514"),
        ("Liam", "Olivia", "Noah", "Emma", "Étienne", "Chloé"),
        ("Tremblay", "Roy", "Gagnon", "MacDonald", "Campbell", "Wong"),
    ),
    Country(
        "GB",
        ("2079460", "1614960"),
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Sophie"),
        ("Clarke", "Evans", "Hughes", "Wright", "Walker", "Robinson", "Thompson", "Hall"),
    ),
    Country(
        "DE",
        ("30", "89", "40"),
        ("Lukas", "Mia", "Jonas", "Lea", "Felix", "Hannah", "Jürgen", "Anja"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Koch"),
    ),
    Country(
        "FR",
        ("142", "491", "612", "478"),
        ("Louis", "Camille", "Hugo", "Léa", "Jules", "Manon", "Théo", "Inès"),
        ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Fournier"),
    ),
    Country(
        "ES",
        ("91", "93", "954"),
        ("Lucía", "Hugo", "Martina", "Pablo", "Sofía", "Álvaro", "Carmen", "Javier"),
        ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez"),
    ),
    Country(
        "BR",
        ("119", "219", "929", "519"),
        ("João", "Ana", "Pedro", "Beatriz", "Gabriel", "Larissa", "Rafael", "Juliana"),
        ("Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Almeida", "Ferreira"),
    ),
    Country(
        "IN",
        ("98", "80", "22"),
        ("Aarav", "Priya", "Vivaan", "Ananya", "Rohan", "Kavya", "Arjun", "Diya"),
        ("Sharma", "Patel", "Gupta", "Singh", "Reddy", "Iyer", "Nair", "Das"),
    ),
    Country(
        "AU",
        ("29", "39", "89", "73", "412"),
        ("Jack", "Charlotte", "William", "Ruby", "Thomas", "Matilda", "Lachlan", "Zoe"),
        ("Kelly", "Ryan", "Murphy", "Nguyen", "Mitchell", "Harris", "Baker", "Ward"),
    ),
    Country(
        "JP",
        ("3", "6", "90"),
        ("Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Kaito", "Sakura"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
    ),
    Country(
        "MX",
        ("55", "33", "81"),
        ("Santiago", "Valentina", "Mateo", "Ximena", "Diego", "Regina", "Emiliano", "Renata"),
        ("Hernández", "García", "Martínez", "López", "Ramírez", "Flores", "Cruz", "Morales"),
    ),
)

ORGANIZATIONS = (
    "Acme Logistics", "Blue Harbor Bank", "Cedar Health", "Delta Freight", "Evergreen Energy",
    "Falcon Airlines", "Granite Insurance", "Helios Solar", "Indigo Telecom", "Juniper Retail",
    "Kestrel Robotics", "Lumen Media", "Meridian Hotels", "Nimbus Cloud", "Orchid Pharma",
    "Pioneer Foods", "Quartz Analytics", "Redwood Realty", "Summit Outdoor", "Tidal Water",
    "Umbra Security", "Vertex Motors", "Willow Education", "Xenon Labs", "Yellowstone Travel",
    "Zephyr Fashion", "Atlas Consulting", "Beacon Legal", "Coral Dental", "Dune Construction",
)  # fmt: skip
TAGS = ("vip", "newsletter", "churn-risk", "partner", "b2b", "event-2024", "support-plan", "spanish-speaking")
STAGES = (
    [LifecycleStage.LEAD] * 4
    + [LifecycleStage.PROSPECT] * 3
    + [LifecycleStage.CUSTOMER] * 5
    + [LifecycleStage.CHURNED, LifecycleStage.OTHER]
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
JOB_TITLES = ("Buyer", "Office Manager", "CFO", "Engineer", "Owner", "Store Manager", "Analyst", "")
NOTES = (
    "Asked for a callback next week about the renewal.",
    "Prefers email over phone; send the quote in writing.",
    "Complained about a late delivery, offered a voucher.",
    "Interested in the premium plan, needs a demo for the team.",
    "Updated billing address during the call.",
    "Wants to be called in the morning only.",
)
CUSTOM_FIELDS: tuple[tuple[str, str, str, list[str]], ...] = (
    ("plan", "Plan", CustomFieldType.CHOICE, ["basic", "pro", "enterprise"]),
    ("contract_number", "Contract number", CustomFieldType.TEXT, []),
    ("renewal_date", "Renewal date", CustomFieldType.DATE, []),
)


@dataclass
class CustomerSpec:
    external_id: str
    first_name: str
    last_name: str
    region: str
    phones: list[str]
    emails: list[str]
    organization: str = ""
    job_title: str = ""
    stage: str = LifecycleStage.LEAD
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    owner_index: int | None = None
    do_not_call: bool = False
    email_opt_out: bool = False
    sms_opt_in: bool = False
    notes: list[str] = field(default_factory=list)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in plain if ch.isascii() and (ch.isalnum() or ch in ".-")).lower()


def _valid_phone(rng: random.Random, country: Country, used: set[str]) -> str:
    """A valid, unused E.164 number of the country, built from a known prefix and random digits."""
    example = phonenumbers.example_number_for_type(country.region, phonenumbers.PhoneNumberType.FIXED_LINE)
    assert example is not None, f"phonenumbers has no example number for {country.region}"
    base_length = len(phonenumbers.national_significant_number(example))
    for _ in range(500):
        prefix = rng.choice(country.prefixes)
        for length in (base_length, base_length + 1, base_length - 1):
            digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix)))
            number = phonenumbers.parse(digits, country.region)
            if (
                phonenumbers.is_valid_number(number)
                and phonenumbers.region_code_for_number(number) == country.region
            ):
                value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                if value not in used:
                    used.add(value)
                    return value
    raise RuntimeError(f"No valid demo phone number found for {country.region}")


# Deliberate duplicates for the duplicates page: (external id, first, last, organization, phones, emails).
DUPLICATES: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("demo-dup-1a", "Katherine", "Johnson", "Orchid Pharma", ("+12125550147",), ("k.johnson@example.com",)),
    ("demo-dup-1b", "Catherine", "Johnson", "Orchid Pharma", (), ("cathy.j@example.org",)),
    ("demo-dup-2a", "Lucie", "Moreau", "", ("+33612345678",), ()),
    ("demo-dup-2b", "Lucie", "Moreau", "", ("+34612345678",), ()),
    ("demo-dup-3a", "Jordan", "Lee", "", (), ("jordan.lee@example.com",)),
    ("demo-dup-3b", "Jordan", "Lee", "Nimbus Cloud", (), ("jordan.lee@example.net",)),
    ("demo-dup-4a", "José", "García", "Atlas Consulting", ("+525512345678",), ()),
    ("demo-dup-4b", "Jose", "Garcia", "Atlas Consulting", (), ("jgarcia@example.org",)),
)


def build_specs() -> list[CustomerSpec]:
    """Every demo customer, computed from the fixed seed alone (no database reads)."""
    rng = random.Random(SEED)
    used: set[str] = {p for dup in DUPLICATES for p in dup[4]}
    # Only the deliberate pairs below may look alike; random namesakes would bury them.
    names: set[tuple[str, str]] = {(_ascii(dup[1]), _ascii(dup[2])) for dup in DUPLICATES}
    specs: list[CustomerSpec] = []
    for n in range(1, CUSTOMER_COUNT + 1):
        country = COUNTRIES[(n - 1) % len(COUNTRIES)]
        first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        while (_ascii(first), _ascii(last)) in names:
            first, last = rng.choice(country.first_names), rng.choice(country.last_names)
        names.add((_ascii(first), _ascii(last)))
        phones = [_valid_phone(rng, country, used) for _ in range(1 if rng.random() < 0.8 else 2)]
        emails = (
            [f"{_ascii(first)}.{_ascii(last)}{n}@{rng.choice(EMAIL_DOMAINS)}"] if rng.random() < 0.85 else []
        )
        custom: dict[str, Any] = {}
        if rng.random() < 0.5:
            custom["plan"] = rng.choice(["basic", "pro", "enterprise"])
            custom["contract_number"] = f"C-{10000 + n}"
            custom["renewal_date"] = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        specs.append(
            CustomerSpec(
                external_id=f"demo-{n}",
                first_name=first,
                last_name=last,
                region=country.region,
                phones=phones,
                emails=emails,
                organization=rng.choice(ORGANIZATIONS) if rng.random() < 0.6 else "",
                job_title=rng.choice(JOB_TITLES),
                stage=rng.choice(STAGES),
                tags=sorted(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3]))),
                custom_fields=custom,
                owner_index=rng.choice([0, 1, None]),
                do_not_call=rng.random() < 0.08,
                email_opt_out=rng.random() < 0.1,
                sms_opt_in=rng.random() < 0.2,
                notes=rng.sample(NOTES, rng.choice([0, 0, 0, 1, 1, 2])),
            )
        )
    for external_id, first, last, organization, dup_phones, dup_emails in DUPLICATES:
        specs.append(
            CustomerSpec(
                external_id=external_id,
                first_name=first,
                last_name=last,
                region="US",
                phones=list(dup_phones),
                emails=list(dup_emails),
                organization=organization,
                stage=LifecycleStage.CUSTOMER,
                notes=["Possible duplicate: check before calling."],
            )
        )
    return specs


class Command(BaseCommand):
    help = "Load demo users (one per role) and realistic demo customers. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            users = self._users()
            self._custom_fields()
            created = self._customers(users)
        total = Customer.objects.filter(external_id__startswith="demo-").count()
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready: {created} customers created, {total} demo customers.")
        )
        if django_apps.is_installed("apps.interactions"):
            call_command("seed_contact_center", stdout=self.stdout)
        if django_apps.is_installed("apps.campaigns"):
            call_command("seed_campaigns", stdout=self.stdout)
        self.stdout.write("Demo logins (username / password):")
        for username, password, role, _, _ in DEMO_USERS:
            self.stdout.write(f"  {role.value:<11} {username} / {password}")

    def _users(self) -> list[User]:
        users = []
        for username, password, role, first, last in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    username=username,
                    password=password,
                    roles=[role],
                    first_name=first,
                    last_name=last,
                    email=f"{username}@switchboard.example",
                )
            else:
                user_set_roles(user=user, roles=[role])
            users.append(user)
        return users

    def _custom_fields(self) -> None:
        for position, (key, label, field_type, choices) in enumerate(CUSTOM_FIELDS):
            CustomFieldDefinition.objects.get_or_create(
                key=key,
                defaults={"label": label, "field_type": field_type, "choices": choices, "position": position},
            )

    def _customers(self, users: list[User]) -> int:
        agents = [u for u in users if u.username.startswith("agent")]
        existing = set(
            Customer.objects.filter(external_id__startswith="demo-").values_list("external_id", flat=True)
        )
        created = 0
        for spec in build_specs():
            if spec.external_id in existing:
                continue
            customer = customer_create(
                actor=SEED_DEMO,
                first_name=spec.first_name,
                last_name=spec.last_name,
                organization_name=spec.organization,
                job_title=spec.job_title,
                owner=agents[spec.owner_index] if spec.owner_index is not None else None,
                lifecycle_stage=spec.stage,
                external_id=spec.external_id,
                custom_fields=spec.custom_fields,
                contacts=[ContactInput(kind="phone", value=p) for p in spec.phones]
                + [ContactInput(kind="email", value=e) for e in spec.emails],
                tags=spec.tags,
                region=spec.region,
            )
            self._consents(customer, spec)
            for index, body in enumerate(spec.notes):
                note_add(actor=agents[index % len(agents)], customer=customer, body=body)
            created += 1
        return created

    def _consents(self, customer: Customer, spec: CustomerSpec) -> None:
        points = list(ContactPoint.objects.filter(customer=customer))
        for point in points:
            if point.kind == "phone" and spec.do_not_call:
                contact_point_set_consent(
                    actor=SEED_DEMO,
                    contact_point=point,
                    consent="do_not_call",
                    value=True,
                    source="customer asked on a call",
                )
            if point.kind == "phone" and spec.sms_opt_in:
                contact_point_set_consent(
                    actor=SEED_DEMO, contact_point=point, consent="sms_opt_in", value=True, source="web form"
                )
            if point.kind == "email" and spec.email_opt_out:
                contact_point_set_consent(
                    actor=SEED_DEMO,
                    contact_point=point,
                    consent="email_opt_out",
                    value=True,
                    source="unsubscribe link",
                )
