"""Business hours: Queue.is_open and next_open_at in the queue's time zone (wall-clock hours that
follow daylight saving time, holidays on the local date, ranges past midnight), validation, and
what an arrival at a closed queue becomes (after-hours queue, missed, email still queued)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from apps.core.actors import SYSTEM
from apps.interactions import selectors, services
from apps.interactions.models import Interaction, InteractionStatus, Queue
from tests.interactions.factories import make_agent, make_queue

UTC = dt.UTC
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _at(text: str) -> dt.datetime:
    """An aware UTC instant from "2025-03-07 14:30"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _queue(**fields: object) -> Queue:
    return Queue(name="q", channels=["voice"], **fields)


def test_an_empty_hours_map_is_always_open_even_on_a_holiday() -> None:
    queue = _queue(holidays=["2025-12-25"])
    assert queue.is_open(_at("2025-12-25 12:00"))
    assert queue.next_open_at(_at("2025-12-25 12:00")) == _at("2025-12-25 12:00")


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2025-01-06 07:59", False),  # Monday 08:59 in Paris (UTC+1)
        ("2025-01-06 08:00", True),  # 09:00: opening minute
        ("2025-01-06 15:59", True),  # 16:59
        ("2025-01-06 16:00", False),  # 17:00: closed at the end minute
        ("2025-07-07 07:00", True),  # 09:00 in summer (UTC+2): hours follow the wall clock
        ("2025-07-07 15:00", False),  # 17:00 in summer
        ("2025-01-11 10:00", False),  # Saturday: not in the map
    ],
)
def test_hours_are_wall_clock_times_in_the_queues_time_zone(instant: str, expected: bool) -> None:
    queue = _queue(time_zone="Europe/Paris", business_hours=WEEKDAYS_9_TO_5)
    assert queue.is_open(_at(instant)) is expected


def test_daylight_saving_changes_in_new_york() -> None:
    queue = _queue(time_zone="America/New_York", business_hours=WEEKDAYS_9_TO_5)
    # Friday before the change: 13:30Z is 08:30 EST (closed), 14:30Z 09:30 EST (open).
    assert not queue.is_open(_at("2025-03-07 13:30"))
    assert queue.is_open(_at("2025-03-07 14:30"))
    # Monday after it (EDT, UTC-4): 13:30Z is already 09:30.
    assert queue.is_open(_at("2025-03-10 13:30"))
    # Closed over the weekend of the change; opens Monday 09:00 EDT = 13:00Z.
    opens = queue.next_open_at(_at("2025-03-08 12:00"))
    assert opens == _at("2025-03-10 13:00")
    assert opens is not None and opens.utcoffset() == dt.timedelta(hours=-4)


def test_an_opening_inside_the_spring_forward_gap_is_the_first_instant_after_it() -> None:
    # 2025-03-09 in New York: 02:00 EST jumps to 03:00 EDT; 02:30 never happens.
    queue = _queue(time_zone="America/New_York", business_hours={"sun": [["02:30", "04:00"]]})
    assert not queue.is_open(_at("2025-03-09 06:59"))  # 01:59 EST
    assert queue.is_open(_at("2025-03-09 07:00"))  # 03:00 EDT
    assert not queue.is_open(_at("2025-03-09 08:00"))  # 04:00 EDT
    assert queue.next_open_at(_at("2025-03-09 06:00")) == _at("2025-03-09 07:00")


def test_the_repeated_hour_of_the_fall_back_night_is_open_both_times() -> None:
    # 2025-11-02 in New York: 01:00-02:00 happens in EDT, then again in EST.
    queue = _queue(time_zone="America/New_York", business_hours={"sun": [["01:00", "02:00"]]})
    assert queue.is_open(_at("2025-11-02 05:30"))  # 01:30 EDT
    assert queue.is_open(_at("2025-11-02 06:30"))  # 01:30 EST
    assert not queue.is_open(_at("2025-11-02 07:30"))  # 02:30 EST
    # The first 01:00. (Python never finds an ambiguous local time == an instant of another
    # zone, so compare in UTC.)
    opens = queue.next_open_at(_at("2025-11-02 04:00"))
    assert opens is not None and opens.astimezone(UTC) == _at("2025-11-02 05:00")


def test_a_holiday_is_the_local_date_not_the_utc_one() -> None:
    every_day = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    queue = _queue(time_zone="America/New_York", business_hours=every_day, holidays=["2025-12-25"])
    assert queue.is_open(_at("2025-12-25 04:59"))  # Dec 24, 23:59 EST
    assert not queue.is_open(_at("2025-12-25 05:00"))  # Dec 25, 00:00 EST
    assert not queue.is_open(_at("2025-12-26 04:00"))  # already Dec 26 in UTC, still Dec 25 here
    assert queue.is_open(_at("2025-12-26 05:00"))
    assert queue.next_open_at(_at("2025-12-25 12:00")) == _at("2025-12-26 05:00")


def test_a_range_past_midnight_belongs_to_the_day_it_starts_on() -> None:
    queue = _queue(
        time_zone="UTC",
        business_hours={"fri": [["22:00", "06:00"]]},
        holidays=["2025-01-17"],  # a Friday
    )
    assert not queue.is_open(_at("2025-01-10 21:59"))  # Friday
    assert queue.is_open(_at("2025-01-10 22:00"))
    assert queue.is_open(_at("2025-01-11 05:59"))  # Saturday morning: Friday's night
    assert not queue.is_open(_at("2025-01-11 06:00"))
    # A holiday on the Friday closes its whole night; the Saturday is no holiday of that range.
    assert not queue.is_open(_at("2025-01-17 23:00"))
    assert not queue.is_open(_at("2025-01-18 02:00"))
    assert queue.next_open_at(_at("2025-01-17 23:00")) == _at("2025-01-24 22:00")


def test_a_non_empty_map_with_no_range_never_opens() -> None:
    queue = _queue(business_hours={"sun": []})
    assert not queue.is_open(_at("2025-01-05 12:00"))
    assert queue.next_open_at(_at("2025-01-05 12:00")) is None


def test_is_open_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        _queue(business_hours=WEEKDAYS_9_TO_5).is_open(dt.datetime(2025, 1, 6, 10, 0))  # noqa: DTZ001


def test_clean_explains_bad_zones_hours_and_holidays() -> None:
    queue = _queue(time_zone="Mars/Olympus", business_hours={"mon": [["9h", "17h"]]}, holidays=["Christmas"])
    with pytest.raises(ValidationError) as error:
        queue.clean()
    assert set(error.value.message_dict) == {"time_zone", "business_hours", "holidays"}
    _queue(time_zone="Asia/Kolkata", business_hours={"monday": [["09:30", "24:00"]]}, holidays=[]).clean()


def test_an_unknown_zone_stored_around_clean_falls_back_to_utc() -> None:
    queue = _queue(time_zone="Nowhere/Land", business_hours={"mon": [["09:00", "17:00"]]})
    assert queue.is_open(_at("2025-01-06 09:00"))


# -- arrivals at a closed queue ------------------------------------------------------------------

SATURDAY_NOON = _at("2025-01-11 12:00")


@pytest.fixture
def saturday() -> object:
    with mock.patch("django.utils.timezone.now", return_value=SATURDAY_NOON) as patched:
        yield patched


@pytest.mark.django_db(transaction=True)
def test_a_call_to_a_closed_queue_is_missed_at_once_and_counts_in_no_wait(saturday: object) -> None:
    queue = make_queue(time_zone="Europe/Paris", business_hours=WEEKDAYS_9_TO_5)
    agent = make_agent(queue)  # even an available agent gets no offer

    call = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice", contact="+14155550134")

    call.refresh_from_db()
    agent.refresh_from_db()
    assert (call.status, call.queue_id, call.agent_id, call.queued_at, call.closed_at) == (
        InteractionStatus.MISSED,
        queue.pk,
        None,
        None,
        SATURDAY_NOON,
    )
    assert agent.total_load == 0
    event = call.events.get()
    assert (event.kind, event.from_status, event.to_status, event.data) == (
        "closed_hours",
        "",
        "missed",
        {"opens_at": "2025-01-13T09:00:00+01:00"},
    )
    stats = selectors.queue_stats(now=SATURDAY_NOON)[0]
    assert (stats.waiting, stats.offered_today, stats.abandoned_today) == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_an_email_still_queues_after_hours(saturday: object) -> None:
    queue = make_queue(business_hours=WEEKDAYS_9_TO_5)

    email = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="email")

    assert (email.status, email.queue_id, email.queued_at) == ("queued", queue.pk, SATURDAY_NOON)


@pytest.mark.django_db(transaction=True)
def test_an_after_hours_queue_takes_the_arrival_and_routes_it(saturday: object) -> None:
    weekend = make_queue(channels=["voice", "chat"])  # always open
    chat_only_closed = make_queue(channels=["chat"], business_hours={"sun": []})
    queue = make_queue(business_hours=WEEKDAYS_9_TO_5, after_hours_queue=weekend)
    on_call = make_agent(weekend)

    call = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")

    call.refresh_from_db()
    assert (call.status, call.queue_id, call.agent_id) == ("offered", weekend.pk, on_call.pk)
    assert call.events.order_by("id").first().data == {"after_hours_of": queue.pk}  # type: ignore[union-attr]

    # An after-hours queue that is closed too (or does not serve the channel) takes nothing.
    queue.after_hours_queue = chat_only_closed
    queue.save(update_fields=["after_hours_queue"])
    missed_chat = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    missed_call = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    assert (missed_chat.status, missed_chat.queue_id) == ("missed", queue.pk)
    assert (missed_call.status, missed_call.queue_id) == ("missed", queue.pk)


@pytest.mark.django_db(transaction=True)
def test_after_hours_queues_pointing_at_each_other_end_in_missed(saturday: object) -> None:
    first = make_queue(business_hours=WEEKDAYS_9_TO_5)
    second = make_queue(business_hours=WEEKDAYS_9_TO_5, after_hours_queue=first)
    first.after_hours_queue = second
    first.save(update_fields=["after_hours_queue"])

    call = services.interaction_enqueue(actor=SYSTEM, queue=first, channel="voice")

    assert (call.status, Interaction.objects.count()) == ("missed", 1)
