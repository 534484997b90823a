"""A load step's manifest summed over its batches."""

from asapp_intercom.domain.manifests import LoadManifest, ObjectManifest, step_manifest
from asapp_intercom.domain.manifests import load_checksum as checksum

PAIRS = [(f"issue-{n}", str(1000 + n)) for n in range(10)]


def batch(created: int, updated: int, quarantined: int, pairs: list) -> LoadManifest:
    return LoadManifest(
        "conversation",
        source_count=created + updated + quarantined,
        created=created,
        updated=updated,
        quarantined=quarantined,
        requests=10 * created,
        seconds=created,
        notes={"reply found in Intercom after an unclear answer": 1},
        checksum=checksum(pairs),
    )


def test_the_step_is_the_sum_of_its_batches_and_what_the_transform_quarantined():
    payloads = ObjectManifest("conversation", "p.parquet", source_count=13, payloads=12, quarantined=1)
    first, second = batch(4, 1, 0, PAIRS[:5]), batch(3, 2, 2, PAIRS[5:])

    step = step_manifest(payloads, [first, second])

    assert (step.source_count, step.created, step.updated, step.quarantined) == (13, 7, 3, 3)
    assert step.balanced and step.requests == 70 and step.seconds == 4
    assert step.notes == {"reply found in Intercom after an unclear answer": 2}
    assert step.checksum == checksum(PAIRS)  # however the step was split


def test_a_missing_batch_leaves_the_step_unbalanced():
    payloads = ObjectManifest("conversation", "p.parquet", source_count=13, payloads=12, quarantined=1)

    assert not step_manifest(payloads, [batch(4, 1, 0, PAIRS[:5])]).balanced


def test_the_load_checksum_depends_on_every_pair_not_their_order():
    assert checksum(PAIRS) == checksum(list(reversed(PAIRS)))
    assert checksum(PAIRS) != checksum(PAIRS[:-1])
    assert checksum(PAIRS) != checksum(PAIRS[:-1] + [("issue-9", "9999")])
