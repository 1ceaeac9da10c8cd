"""The compliance gate: the one place that decides whether an outbound contact (a call, a text,
an email of a campaign) may go out now, and the audit of every decision (ContactLog).

The dialer's tick, the preview desk and the SMS/email sends all ask `contacts_decide` (or
`contact_decide` for one lead) right before they contact; nothing else in the product decides.
A contact passes only when every rule holds, checked in the order of RULES (the first rule that
refuses is the one reported):

- campaign_inactive: the campaign is active and now is within starts_at/ends_at;
- erased, consent: the number or address is not in the register of erased contact points, and
  its ContactPoint is not marked do-not-call (voice, SMS) or opted out of email;
- dnc_internal, dnc_campaign, dnc_national: the number is on no do-not-call list that applies
  (phone channels only);
- attempts_lead, attempts_number: the campaign's attempt caps;
- abandon_quiet: no abandoned call to the number in the last 72 hours;
- frequency_cap: at most FREQUENCY_CAP contacts per channel to the number in a rolling 24 h,
  across all campaigns;
- holiday: not a public holiday of the campaign's country in the contact's local date;
- window: the campaign's window (never outside 08:00-21:00) in EVERY zone the contact may be in.

A refusal that only time lifts (abandon_quiet, frequency_cap, holiday, window) carries retry_at,
the earliest instant at which all of those would pass together; others carry None.

The batched path costs a constant number of queries whatever the batch size (up to
QUERY_CHUNK leads per IN list): one per kind of rule data (consent, erased register, DNC lists,
attempts to the number in the campaign, recent attempts to the number), one for customers' own
time zones when a lead has none, and one bulk insert of the log.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import holidays
from django.db.models import Count, Q
from django.utils import timezone

from apps.campaigns.models import (
    ALL_DAYS,
    EARLIEST_LOCAL,
    LATEST_LOCAL,
    AttemptStatus,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    ContactLog,
    DncEntry,
    DncListKind,
    Lead,
    LeadAttempt,
)
from apps.campaigns.services.attempts import ABANDON_QUIET
from apps.campaigns.timezones import contact_time_zones
from apps.core.exceptions import DomainError
from apps.customers.erasure import erased_contact_digest
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer, ErasedContact

# Contacts per channel to one number in any rolling FREQUENCY_WINDOW, across all campaigns.
FREQUENCY_CAP = 3
FREQUENCY_WINDOW = dt.timedelta(hours=24)
# How far ahead retry_at is searched for an open window (a week plus a day, so a window open
# on one day of the week is always found).
RETRY_SEARCH_DAYS = 8
# Values per IN (...) list: a dialer batch is one query per rule kind; far larger batches are
# split so no database's parameter limit is reached.
QUERY_CHUNK = 2000

ALLOWED = "allowed"
RULES: tuple[str, ...] = (
    ALLOWED,
    "campaign_inactive",
    "erased",
    "consent",
    "dnc_internal",
    "dnc_campaign",
    "dnc_national",
    "attempts_lead",
    "attempts_number",
    "abandon_quiet",
    "frequency_cap",
    "holiday",
    "window",
)
RULE_LABELS: dict[str, str] = {
    ALLOWED: "Allowed",
    "campaign_inactive": "Campaign not active",
    "erased": "Erased customer data",
    "consent": "No consent (do-not-call or email opt-out)",
    "dnc_internal": "Internal do-not-call list",
    "dnc_campaign": "Campaign do-not-call list",
    "dnc_national": "National do-not-call registry",
    "attempts_lead": "Lead attempts used up",
    "attempts_number": "Number attempts used up",
    "abandon_quiet": "72 hours after an abandoned call",
    "frequency_cap": "Contact frequency cap",
    "holiday": "Public holiday",
    "window": "Outside the calling window",
}
# Refusals that time alone lifts: they carry retry_at.
TIME_RULES = frozenset({"abandon_quiet", "frequency_cap", "holiday", "window"})

PHONE_CHANNELS = frozenset({CampaignChannel.VOICE.value, CampaignChannel.SMS.value})
_DNC_RULE = {
    DncListKind.INTERNAL.value: "dnc_internal",
    DncListKind.CAMPAIGN.value: "dnc_campaign",
    DncListKind.NATIONAL.value: "dnc_national",
}
_LOCAL_FORMAT = "%Y-%m-%d %H:%M"
_LOG_LOCAL_MAX = ContactLog._meta.get_field("local_time").max_length or 64
_LOG_DETAIL_MAX = ContactLog._meta.get_field("detail").max_length or 300


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # one of RULES; "allowed" when allowed
    detail: str  # for a person: why
    local_time: str  # "2026-12-03 14:05 America/Chicago" per zone, ';'-joined
    retry_at: dt.datetime | None  # time-only refusals: the earliest moment it could pass


class GateInputError(DomainError):
    """The gate was asked about something it cannot decide (an unknown channel)."""

    code = "invalid_contact_request"


# -- time zones, windows and holidays --------------------------------------------------------


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _valid_zone(name: object) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _as_time(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    return dt.time.fromisoformat(str(value))


@dataclass(frozen=True)
class _Window:
    """A campaign's window narrowed to the legal bounds; days as weekday numbers (Monday 0)."""

    start: dt.time
    end: dt.time
    weekdays: frozenset[int]

    @classmethod
    def of(cls, campaign: Campaign) -> _Window:
        start = max(_as_time(campaign.window_start), dt.time.fromisoformat(EARLIEST_LOCAL))
        end = min(_as_time(campaign.window_end), dt.time.fromisoformat(LATEST_LOCAL))
        days = campaign.window_days if isinstance(campaign.window_days, list) else []
        return cls(start, end, frozenset(ALL_DAYS.index(d) for d in days if d in ALL_DAYS))

    def describe(self) -> str:
        days = ", ".join(ALL_DAYS[d] for d in sorted(self.weekdays)) or "no day"
        return f"{self.start:%H:%M}-{self.end:%H:%M} ({days})"


class _Holidays:
    """The campaign's public holidays, read once per year into a dict (one lookup per check).
    An unknown subdivision falls back to the country's national holidays; an unknown country
    refuses every contact (rule holiday, no retry_at): calling on a day the gate cannot rule out
    as a holiday is not a decision it takes on a guess."""

    def __init__(self, country: str, subdivision: str) -> None:
        self.country = (country or "").strip().upper()
        self.subdivision = (subdivision or "").strip().upper()
        self.names: dict[dt.date, str] = {}
        self._years: set[int] = set()
        self.error, self.subdivision = _calendar_of(self.country, self.subdivision)

    def name(self, day: dt.date) -> str:
        """The holiday's name, or "" when `day` is no holiday."""
        if not self.country or self.error:
            return ""
        if day.year not in self._years:
            self._years.add(day.year)
            self.names.update(_holiday_names(self.country, self.subdivision, day.year))
        return self.names.get(day, "")


@lru_cache(maxsize=256)
def _calendar_of(country: str, subdivision: str) -> tuple[str, str]:
    """(error, subdivision): the error when the country is unknown, the subdivision "" when the
    country does not know it."""
    if not country:
        return "", ""
    try:
        holidays.country_holidays(country)
    except NotImplementedError:
        return f"the holiday calendar of {country!r} is unknown", ""
    if subdivision:
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError:
            return "", ""
    return "", subdivision


@lru_cache(maxsize=256)
def _holiday_names(country: str, subdivision: str, year: int) -> dict[dt.date, str]:
    calendar = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return dict(calendar.items())


def _intervals(
    zone: str, window: _Window, calendar: _Holidays, since: dt.datetime, days: int
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The window's open intervals in `zone`, as UTC instants, for the local dates from
    `since`'s local date on, skipping closed weekdays and holidays. Local times are built with
    zoneinfo on each date, so a DST change shifts the UTC instants and never the local hours."""
    tz = _zone(zone)
    first = since.astimezone(tz).date()
    out = []
    for offset in range(days + 1):
        day = first + dt.timedelta(days=offset)
        if day.weekday() not in window.weekdays or calendar.name(day):
            continue
        start = dt.datetime.combine(day, window.start, tzinfo=tz).astimezone(dt.UTC)
        end = dt.datetime.combine(day, window.end, tzinfo=tz).astimezone(dt.UTC)
        if end > since and end > start:
            out.append((start, end))
    return out


def _earliest_open(
    zones: Sequence[str], window: _Window, calendar: _Holidays, since: dt.datetime
) -> dt.datetime | None:
    """The earliest instant >= since at which the window is open (and no holiday) in every zone,
    searched RETRY_SEARCH_DAYS ahead; None when there is none."""
    if calendar.error or window.start >= window.end or not window.weekdays:
        return None
    per_zone = [_intervals(z, window, calendar, since, RETRY_SEARCH_DAYS) for z in zones]
    candidate = since
    horizon = since + dt.timedelta(days=RETRY_SEARCH_DAYS)
    while candidate <= horizon:
        latest = candidate
        for intervals in per_zone:
            following = next((iv for iv in intervals if iv[1] > candidate), None)
            if following is None:
                return None
            if following[0] > latest:
                latest = following[0]
        if latest == candidate:
            return candidate
        candidate = latest
    return None


# -- the decision ------------------------------------------------------------------------------


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), QUERY_CHUNK):
        yield values[start : start + QUERY_CHUNK]


def _local_time(now: dt.datetime, zones: Sequence[str]) -> str:
    return ";".join(f"{now.astimezone(_zone(z)).strftime(_LOCAL_FORMAT)} {z}" for z in zones)


def _log_local_time(text: str) -> str:
    """ContactLog.local_time is short: when several zones overflow it, a date or a zone area
    repeated from the first zone is left out ("2026-12-03 14:05 America/Chicago;13:05 Denver"),
    then the text is cut."""
    if len(text) <= _LOG_LOCAL_MAX:
        return text
    parts = text.split(";")
    first_date, first_zone = parts[0][:10], parts[0][17:]
    area = first_zone.split("/", 1)[0] + "/" if "/" in first_zone else ""
    compact = [parts[0]]
    for part in parts[1:]:
        date, clock, zone = part[:10], part[11:16], part[17:]
        if area and zone.startswith(area):
            zone = zone[len(area) :]
        compact.append(f"{clock} {zone}" if date == first_date else f"{date} {clock} {zone}")
    joined = ";".join(compact)
    return joined if len(joined) <= _LOG_LOCAL_MAX else joined[: _LOG_LOCAL_MAX - 1] + "…"


def _campaign_refusal(campaign: Campaign, now: dt.datetime) -> str:
    if campaign.status != CampaignStatus.ACTIVE:
        return f"Campaign {campaign.name} is {campaign.get_status_display().lower()}, not active."
    if campaign.starts_at is not None and now < campaign.starts_at:
        return f"Campaign {campaign.name} starts at {campaign.starts_at:%Y-%m-%d %H:%M} UTC."
    if campaign.ends_at is not None and now >= campaign.ends_at:
        return f"Campaign {campaign.name} ended at {campaign.ends_at:%Y-%m-%d %H:%M} UTC."
    return ""


def _abandon_moment(
    started: dt.datetime, answered: dt.datetime | None, ended: dt.datetime | None
) -> dt.datetime:
    return ended or answered or started


def contacts_decide(
    *,
    campaign: Campaign,
    leads: Sequence[Lead],
    channel: str,
    now: dt.datetime | None = None,
    log: bool = True,
) -> list[Decision]:
    """One Decision per lead, in order, for contacting each on `channel` at `now` (default: the
    current time). Reads only (no locks): the caller holds the leads it claimed from the hopper.
    With log=True every decision is a ContactLog row, written with one bulk insert in the
    caller's transaction. An unknown channel raises GateInputError."""
    if channel not in CampaignChannel.values:
        raise GateInputError(f"channel: {channel!r} is not one of {', '.join(CampaignChannel.values)}.")
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise GateInputError("now: the moment of the contact must carry its time zone.")
    leads = list(leads)
    if not leads:
        return []
    phone = channel in PHONE_CHANNELS
    kind = ContactPointKind.PHONE if phone else ContactPointKind.EMAIL
    contacts = sorted({lead.contact for lead in leads})
    inactive = _campaign_refusal(campaign, now)
    window = _Window.of(campaign)
    calendar = _Holidays(campaign.holiday_country, campaign.holiday_subdivision)

    # Consent (the contact point's flag) and the erased register.
    refused_consent: dict[str, str] = {}
    for chunk in _chunks(contacts):
        points = ContactPoint.objects.filter(kind=kind, value__in=chunk)
        points = points.filter(do_not_call=True) if phone else points.filter(email_opt_out=True)
        for value, since, source in points.values_list(
            "value",
            "do_not_call_at" if phone else "email_opt_out_at",
            "do_not_call_source" if phone else "email_opt_out_source",
        ):
            what = "is marked do-not-call" if phone else "opted out of email"
            when = f" since {since:%Y-%m-%d}" if since else ""
            refused_consent[value] = f"{value} {what}{when}{' (' + source + ')' if source else ''}."
    digest_of: dict[str, str] = {}
    for contact in contacts:
        try:
            digest_of[erased_contact_digest(kind, contact, normalized=True)] = contact
        except InvalidContact:
            continue
    erased: set[str] = set()
    digests = sorted(digest_of)
    for chunk in _chunks(digests):
        erased.update(
            digest_of[d]
            for d in ErasedContact.objects.filter(digest__in=chunk).values_list("digest", flat=True)
        )

    # Do-not-call lists that apply: internal, this campaign's, every national one.
    dnc: dict[str, tuple[str, str]] = {}
    if phone:
        applies = Q(dnc_list__kind=DncListKind.INTERNAL) | Q(dnc_list__kind=DncListKind.NATIONAL)
        applies |= Q(dnc_list__kind=DncListKind.CAMPAIGN, dnc_list__campaign_id=campaign.pk)
        order = list(_DNC_RULE.values())
        for chunk in _chunks(contacts):
            rows = DncEntry.objects.filter(applies, number__in=chunk).values_list(
                "number", "dnc_list__kind", "dnc_list__name"
            )
            for number, list_kind, list_name in rows:
                rule = _DNC_RULE[list_kind]
                held = dnc.get(number)
                if held is None or order.index(rule) < order.index(held[0]):
                    dnc[number] = (rule, list_name)

    # Attempts to each number in this campaign, and recent attempts anywhere (frequency, abandon).
    per_number: dict[str, int] = {}
    recent_channel: dict[str, list[dt.datetime]] = {}
    last_abandon: dict[str, dt.datetime] = {}
    # A preview waiting for its agent (queued) or skipped without a dial contacted nobody.
    not_contacts = (AttemptStatus.QUEUED, AttemptStatus.SKIPPED)
    lookback = now - max(FREQUENCY_WINDOW, ABANDON_QUIET) - dt.timedelta(hours=2)
    for chunk in _chunks(contacts):
        counted = (
            LeadAttempt.objects.filter(campaign_id=campaign.pk, contact__in=chunk)
            .exclude(status__in=not_contacts)
            .order_by()
            .values_list("contact")
            .annotate(n=Count("id"))
        )
        per_number.update(dict(counted))
        recent = (
            LeadAttempt.objects.filter(contact__in=chunk, started_at__gte=lookback)
            .exclude(status__in=not_contacts)
            .values_list("contact", "channel", "status", "started_at", "answered_at", "ended_at")
        )
        for contact, attempt_channel, status, started, answered, ended in recent:
            if attempt_channel == channel and now - FREQUENCY_WINDOW < started <= now:
                recent_channel.setdefault(contact, []).append(started)
            if status == AttemptStatus.ABANDONED:
                moment = _abandon_moment(started, answered, ended)
                latest = last_abandon.get(contact)
                if now - ABANDON_QUIET < moment <= now and (latest is None or moment > latest):
                    last_abandon[contact] = moment

    # Zones: the lead's own, else the customer's zone or the number's, else the campaign's.
    need_customer = {lead.customer_id for lead in leads if not lead.time_zones and lead.customer_id}
    customer_zone: dict[int, str] = {}
    if need_customer:
        customer_zone = dict(Customer.objects.filter(pk__in=need_customer).values_list("pk", "time_zone"))

    fallback = campaign.time_zone if _valid_zone(campaign.time_zone) else "UTC"
    local_cache: dict[tuple[str, ...], str] = {}
    open_cache: dict[tuple[tuple[str, ...], dt.datetime], dt.datetime | None] = {}
    decisions: list[Decision] = []
    for lead in leads:
        zones = tuple(z for z in (lead.time_zones or []) if _valid_zone(z))
        if not zones:
            zones = tuple(
                contact_time_zones(
                    contact=lead.contact,
                    customer_time_zone=customer_zone.get(lead.customer_id or 0) or "",
                    fallback=fallback,
                )
            )
        local = local_cache.get(zones)
        if local is None:
            local = local_cache[zones] = _local_time(now, zones)
        decisions.append(
            _decide_one(
                campaign=campaign,
                lead=lead,
                channel=channel,
                phone=phone,
                now=now,
                zones=zones,
                local=local,
                inactive=inactive,
                erased=lead.contact in erased,
                consent=refused_consent.get(lead.contact, ""),
                dnc=dnc.get(lead.contact) if phone else None,
                number_attempts=per_number.get(lead.contact, 0),
                recent=recent_channel.get(lead.contact, []),
                abandon=last_abandon.get(lead.contact),
                window=window,
                calendar=calendar,
                open_cache=open_cache,
            )
        )
    if log:
        ContactLog.objects.bulk_create(
            [
                ContactLog(
                    at=now,
                    campaign_id=campaign.pk,
                    lead_id=lead.pk,
                    customer_id=lead.customer_id,
                    channel=channel,
                    contact=lead.contact,
                    local_time=_log_local_time(decision.local_time),
                    allowed=decision.allowed,
                    rule=decision.rule,
                    detail=decision.detail[:_LOG_DETAIL_MAX],
                )
                for lead, decision in zip(leads, decisions, strict=True)
            ],
            batch_size=1000,
        )
    return decisions


def _decide_one(
    *,
    campaign: Campaign,
    lead: Lead,
    channel: str,
    phone: bool,
    now: dt.datetime,
    zones: tuple[str, ...],
    local: str,
    inactive: str,
    erased: bool,
    consent: str,
    dnc: tuple[str, str] | None,
    number_attempts: int,
    recent: list[dt.datetime],
    abandon: dt.datetime | None,
    window: _Window,
    calendar: _Holidays,
    open_cache: dict[tuple[tuple[str, ...], dt.datetime], dt.datetime | None],
) -> Decision:
    def refuse(rule: str, detail: str, retry_at: dt.datetime | None = None) -> Decision:
        return Decision(False, rule, detail, local, retry_at)

    contact = lead.contact
    if inactive:
        return refuse("campaign_inactive", inactive)
    if erased:
        return refuse(
            "erased",
            f"{contact} belongs to a person whose data was erased: no contact until they consent again.",
        )
    if consent:
        return refuse("consent", consent)
    if dnc is not None:
        rule, list_name = dnc
        return refuse(rule, f"{contact} is on the do-not-call list {list_name}.")
    if lead.attempts >= campaign.max_attempts_per_lead:
        return refuse(
            "attempts_lead",
            f"The lead has had {lead.attempts} attempts; the campaign allows {campaign.max_attempts_per_lead}.",
        )
    if number_attempts >= campaign.max_attempts_per_number:
        return refuse(
            "attempts_number",
            f"{contact} has had {number_attempts} attempts in this campaign; it allows "
            f"{campaign.max_attempts_per_number} per number.",
        )

    # Time rules: the first that refuses is reported; retry_at satisfies them all at once.
    reasons: list[tuple[str, str]] = []
    earliest = now
    if abandon is not None:
        quiet_end = abandon + ABANDON_QUIET
        earliest = max(earliest, quiet_end)
        reasons.append(
            (
                "abandon_quiet",
                f"A call to {contact} was abandoned at {abandon:%Y-%m-%d %H:%M} UTC: no call before "
                f"{quiet_end:%Y-%m-%d %H:%M} UTC.",
            )
        )
    if len(recent) >= FREQUENCY_CAP:
        ordered = sorted(recent)
        frees_at = ordered[len(ordered) - FREQUENCY_CAP] + FREQUENCY_WINDOW
        earliest = max(earliest, frees_at)
        reasons.append(
            (
                "frequency_cap",
                f"{contact} had {len(recent)} {channel} contacts in the last 24 hours (at most "
                f"{FREQUENCY_CAP}, across campaigns).",
            )
        )
    if calendar.error:
        return refuse("holiday", f"Not contacted: {calendar.error} (campaign holiday country).")
    holiday_zones = []
    closed_zones = []
    for zone in zones:
        at = now.astimezone(_zone(zone))
        name = calendar.name(at.date())
        if name:
            holiday_zones.append(f"{name} ({at:%Y-%m-%d} {zone})")
        elif not (at.weekday() in window.weekdays and window.start <= at.time() < window.end):
            closed_zones.append(f"{at:%a %H:%M} {zone}")
    if holiday_zones:
        reasons.append(
            ("holiday", f"Public holiday in the contact's local date: {'; '.join(holiday_zones)}.")
        )
    if closed_zones:
        reasons.append(
            (
                "window",
                f"Outside the calling window {window.describe()} in the contact's local time: "
                f"{'; '.join(closed_zones)}.",
            )
        )
    if not reasons:
        return Decision(True, ALLOWED, f"All checks passed in {', '.join(zones)}.", local, None)
    key = (zones, earliest)
    if key not in open_cache:
        open_cache[key] = _earliest_open(zones, window, calendar, earliest)
    retry_at = open_cache[key]
    rule, detail = reasons[0]
    if retry_at is not None and campaign.ends_at is not None and retry_at >= campaign.ends_at:
        detail += " The campaign ends before it could pass."
        retry_at = None
    elif retry_at is None:
        detail += f" No moment in the next {RETRY_SEARCH_DAYS} days passes."
    return refuse(rule, detail, retry_at)


def contact_decide(
    *,
    campaign: Campaign,
    lead: Lead,
    channel: str,
    now: dt.datetime | None = None,
    log: bool = True,
) -> Decision:
    """contacts_decide for one lead."""
    return contacts_decide(campaign=campaign, leads=[lead], channel=channel, now=now, log=log)[0]


# -- reads for the report pages ---------------------------------------------------------------


def refusals_by_rule(*, campaign: Campaign | None, since: dt.datetime) -> list[tuple[str, str, int]]:
    """(rule, label, count) of the refusals logged since `since` (one campaign, or all when
    None), in the order of RULES; rules without refusals are left out. One query."""
    rows = ContactLog.objects.filter(allowed=False, at__gte=since)
    if campaign is not None:
        rows = rows.filter(campaign_id=campaign.pk)
    counts = dict(rows.order_by().values_list("rule").annotate(n=Count("id")))
    ordered = [(rule, RULE_LABELS[rule], counts.pop(rule)) for rule in RULES if rule in counts]
    # A rule no longer in RULES (an older log row) still counts, under its own name.
    ordered.extend((rule, rule, n) for rule, n in sorted(counts.items()))
    return ordered


def abandon_rate_30d(*, campaign: Campaign, now: dt.datetime) -> tuple[int, int, float]:
    """(abandoned, answered, abandoned / answered) of the campaign's calls started in the 30
    days before `now`; the rate is 0.0 with no answered call. One query."""
    since = now - dt.timedelta(days=30)
    totals = LeadAttempt.objects.filter(
        campaign_id=campaign.pk, started_at__gte=since, started_at__lte=now
    ).aggregate(
        abandoned=Count("id", filter=Q(status=AttemptStatus.ABANDONED)),
        answered=Count("id", filter=Q(answered_at__isnull=False)),
    )
    abandoned, answered = int(totals["abandoned"] or 0), int(totals["answered"] or 0)
    return abandoned, answered, (abandoned / answered if answered else 0.0)
