"""How a load step is split into batches: every record in exactly one, a contact's conversations together."""

import pytest
from asapp_intercom.domain.batches import Batch, batch_count
from asapp_intercom.domain.objects import ObjectType


def rows(count: int, contacts: int) -> list[dict]:
    return [{"source_id": f"issue-{n}", "depends_on": f"customer-{n % contacts}"} for n in range(count)]


@pytest.mark.parametrize(
    ("object_type", "records", "size", "batches"),
    [
        (ObjectType.CONVERSATION, 0, 100, 1),
        (ObjectType.CONVERSATION, 100, 100, 1),
        (ObjectType.CONVERSATION, 101, 100, 2),
        (ObjectType.CONTACT, 2_000_000, 5_000, 400),
        (ObjectType.ATTACHMENT, 10_000, 100, 1),  # its step ends by restoring states: one worker
    ],
)
def test_a_step_has_one_batch_per_batch_size_records(object_type, records, size, batches):
    assert batch_count(object_type, records, size) == batches


def test_every_record_is_in_exactly_one_batch_and_the_batches_are_about_even():
    count = 7
    batches = [Batch(index, count) for index in range(count)]
    held = [[row for row in rows(7_000, 7_000) if batch.holds(ObjectType.CONTACT, row)] for batch in batches]

    assert sum(len(part) for part in held) == 7_000
    assert len({row["source_id"] for part in held for row in part}) == 7_000
    assert all(850 <= len(part) <= 1_150 for part in held), [len(part) for part in held]


def test_a_contacts_conversations_share_a_batch_so_two_workers_never_race_for_one_person():
    batches = [Batch(index, 5) for index in range(5)]
    where: dict[str, set[int]] = {}
    for row in rows(3_000, 97):
        for batch in batches:
            if batch.holds(ObjectType.CONVERSATION, row):
                where.setdefault(row["depends_on"], set()).add(batch.index)

    assert len(where) == 97 and all(len(indexes) == 1 for indexes in where.values())
    assert len(set().union(*where.values())) == 5  # and the contacts are spread over every batch


def test_a_batch_is_named_as_the_grid_shows_it():
    assert Batch(2, 8, 1_204).as_dict() == {"index": 2, "count": 8, "records": 1_204, "label": "3 of 8"}
    assert Batch.from_dict(Batch(2, 8, 1_204).as_dict()) == Batch(2, 8, 1_204)
