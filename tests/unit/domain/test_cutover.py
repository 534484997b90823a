"""Cutover: the go/no-go of a cutover run, and the switch that stops scheduled runs and backfills at it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asapp_intercom.domain.cutover import (
    cutover_markdown,
    cutover_verdict,
    effective_cutover,
    window_before_cutover,
)
from asapp_intercom.domain.run_form import RunForm
from pydantic import ValidationError

FREEZE = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
ROWS = [
    {"object": "company", "source": 10, "in_intercom": 10, "mismatched": 0},
    {
        "object": "contact",
        "source": 50,
        "in_intercom": 48,
        "mismatched": 0,
        "validated": 3,
        "validated_earlier": 45,
    },
    {"object": "conversation", "source": 100, "in_intercom": 99, "mismatched": 0},
]
QUARANTINE = [
    {"object": "contact", "source_id": "c1", "reason": "no email and no id"},
    {"object": "contact", "source_id": "c2", "reason": "no email and no id"},
    {"object": "conversation", "source_id": "i1", "reason": "its customer is in no feed"},
]


def test_everything_in_intercom_or_quarantined_with_a_reason_is_a_go():
    cutover = cutover_verdict(ROWS, QUARANTINE, ["rep-7"], [], FREEZE)

    assert cutover["go"]
    assert cutover["verdict"].startswith("GO: cut over at 2026-03-01T18:00:00+00:00")
    assert [
        (row["object"], row["asapp"], row["intercom"], row["quarantined"]) for row in cutover["objects"]
    ] == [
        ("company", 10, 10, 0),
        ("contact", 50, 48, 2),
        ("conversation", 100, 99, 1),
    ]
    assert cutover["quarantined_by_reason"] == {
        "contact: no email and no id": 2,
        "conversation: its customer is in no feed": 1,
    }
    text = "\n".join(cutover_markdown(cutover))
    assert "| contact | 50 | 48 | 2 | 0 | 3 | 45 | 0 |" in text
    assert "Agents without an Intercom admin: 1" in text


@pytest.mark.parametrize(
    ("rows", "failed", "why"),
    [
        (
            [{**ROWS[0], "in_intercom": 9}],
            [],
            "1 company record(s) of ASAPP are neither in Intercom nor quarantined",
        ),
        ([{**ROWS[0], "mismatched": 2}], [], "2 company record(s) read back differ from ASAPP"),
        (ROWS[:1], [{"task": "load.contacts"}], "failed: load.contacts"),
    ],
)
def test_a_record_unaccounted_for_a_difference_or_a_failed_task_is_a_no_go(rows, failed, why):
    cutover = cutover_verdict(rows, [], [], failed, FREEZE)

    assert not cutover["go"]
    assert cutover["verdict"] == f"NO-GO: {why}"


def test_the_first_cutover_known_is_the_switch():
    assert effective_cutover(None, None) is None
    assert effective_cutover(FREEZE, FREEZE - timedelta(hours=1)) == FREEZE - timedelta(hours=1)


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (FREEZE - timedelta(hours=2), FREEZE - timedelta(hours=1), "whole"),
        (FREEZE - timedelta(hours=1), FREEZE + timedelta(hours=1), "cut"),
        (FREEZE, FREEZE + timedelta(hours=1), None),
    ],
)
def test_a_scheduled_or_backfill_window_stops_at_the_cutover(since, until, expected):
    window = window_before_cutover(since, until, FREEZE)

    assert window == {"whole": (since, until), "cut": (since, FREEZE), None: None}[expected]
    assert window_before_cutover(since, until, None) == (since, until)


def test_a_cutover_run_migrates_everything():
    form = RunForm.of_params({"cutover_at": "2026-03-01T18:00:00"})
    assert form.cutover_at == FREEZE  # UTC unless stated

    with pytest.raises(ValidationError, match="a cutover run migrates everything"):
        RunForm.of_params({"cutover_at": "2026-03-01T18:00:00", "mode": "sample"})
    with pytest.raises(ValidationError, match="a cutover run migrates everything"):
        RunForm.of_params({"cutover_at": "2026-03-01T18:00:00", "objects": ["companies"]})
