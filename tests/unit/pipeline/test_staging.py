"""The staging area's payload files, on local disk, and the memory a finished step gives back."""

import orjson
import pyarrow.parquet as pq
import pytest
from asapp_intercom.domain.manifests import ObjectManifest
from asapp_intercom.domain.payloads import HashScheme, canonical_json, payload_hash
from asapp_intercom.pipeline import staging as staging_module
from asapp_intercom.pipeline.staging import BATCH_ROWS, release_freed_memory


def test_a_payload_file_holds_every_payload_as_its_canonical_json_with_its_hash(area):
    staging, _ = area
    texts = ["Grüße, 👋", "", 'line\nbreak "quoted" \\ \u2028', "plain"]
    payloads = {
        str(number): {"text": texts[number % len(texts)], "custom_attributes": {"n": number}}
        for number in range(BATCH_ROWS + 3)  # a whole batch and a part of the next
    }
    manifest = ObjectManifest("conversation", "runs/unit/payloads/conversation.parquet")

    with staging.payload_writer(manifest, HashScheme.SORTED_ORJSON) as writer:
        for source_id, payload in payloads.items():
            writer.add(source_id, "company-1" if source_id == "7" else None, payload)

    with (staging.root / manifest.path).open("rb") as handle:
        table = pq.read_table(handle).to_pylist()
    assert [row["source_id"] for row in table] == list(payloads)
    assert [row["payload"] for row in table] == [canonical_json(p).decode() for p in payloads.values()]
    assert [orjson.loads(row["payload"]) for row in table] == list(payloads.values())
    assert [row["hash"] for row in table] == [
        payload_hash(p, HashScheme.SORTED_ORJSON) for p in payloads.values()
    ]
    assert [row["source_id"] for row in table if row["depends_on"]] == ["7"]
    assert manifest.payloads == len(payloads)


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(staging_module._MALLOC_TRIM is None, reason="no glibc malloc_trim here")
def test_memory_a_step_freed_between_what_it_kept_goes_back_to_the_system():
    """A step that leaves a few objects alive among many it freed (the heap cannot shrink past them) keeps
    the freed memory resident until it is released."""
    values = [bytes([number % 256]) * 2048 for number in range(100_000)]  # 200 MB from malloc's heap
    kept = values[::16] + [values[-1]]
    del values
    before = resident_mb()
    release_freed_memory()
    assert before - resident_mb() > 100
    del kept  # alive until the release was measured
