"""Configuration API (structured-data fields, segments, redaction entities), AutoSummary structured data
and health, over real HTTP and checked against ASAPP's published OpenAPI files."""

import pytest

from tests.sandbox.asapp.conftest import CONVERSATION_ID, DAY, SEGMENTS, STRUCTURED_FIELDS, assert_asapp_error

FIELDS = "/configuration/v1/structured-data-fields"
SEGMENTS_PATH = "/configuration/v1/segments"


def walk(api, spec, path: str, key: str, **params) -> list[list[dict]]:
    """Follow nextCursor from the first page to the last, checking that prevCursor leads back."""
    pages, cursor = [], None
    while True:
        response = spec.check(api.get(path, params={**params, **({"cursor": cursor} if cursor else {})}))
        body = response.json()
        if pages:
            back = spec.check(api.get(path, params={**params, "cursor": body["prevCursor"]})).json()
            assert back[key] == pages[-1]
        else:
            assert body["prevCursor"] is None
        pages.append(body[key])
        if body["nextCursor"] is None:
            return pages
        cursor = body["nextCursor"]


def test_fields_come_from_the_latest_config_partition_in_pages(api, configuration_spec):
    pages = walk(api, configuration_spec, FIELDS, "structuredDataFields", limit=2)
    assert [len(page) for page in pages] == [2, 1]
    fields = {item["id"]: item for page in pages for item in page}
    assert set(fields) == {row["field_id"] for row in STRUCTURED_FIELDS}  # q_retired was only in 04-30
    assert fields["q_issue_escalated"]["question"] == {"question": "Was the issue escalated?"}
    assert fields["e_account_number"]["entity"]["examples"] == ["8999246118"]
    assert fields["q_promotion_offered"]["active"] is False


def test_fields_filter_on_active_and_default_to_pages_of_twenty(api, configuration_spec):
    body = configuration_spec.check(api.get(FIELDS, params={"active": "false"})).json()
    assert [item["id"] for item in body["structuredDataFields"]] == ["q_promotion_offered"]
    everything = configuration_spec.check(api.get(FIELDS)).json()
    assert len(everything["structuredDataFields"]) == 3 and everything["nextCursor"] is None


def test_segments_page_one_by_one(api, configuration_spec):
    pages = walk(api, configuration_spec, SEGMENTS_PATH, "segments", limit=1)
    assert [page[0] for page in pages] == sorted(SEGMENTS, key=lambda segment: segment["id"])


def test_redaction_entities_are_listed_in_pages(api, configuration_spec):
    pages = walk(
        api, configuration_spec, "/configuration/v1/redaction-entities", "redactionEntities", limit=2
    )
    entities = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item["id"] for item in entities] == sorted(item["id"] for item in entities)
    assert {item["id"]: item["policies"]["customerImmediate"] for item in entities}["CREDIT_CARD_NUMBER"]


def test_field_lifecycle_in_memory(api, configuration_spec):
    check = configuration_spec.check
    new = {
        "id": "q_refund_given",
        "name": "Refund given",
        "categoryId": "OUTCOME",
        "type": "QUESTION",
        "active": True,
        "question": {"question": "Did the agent give a refund?"},
        "segmentIds": ["GLOBAL"],
    }
    assert check(api.post(FIELDS, json=new)).status_code == 201
    assert_asapp_error(check(api.post(FIELDS, json=new)), 409, "409-01")
    update = {key: value for key, value in new.items() if key != "id"} | {"active": False}
    assert check(api.put(f"{FIELDS}/q_refund_given", json=update)).json()["active"] is False
    assert check(api.get(f"{FIELDS}/q_refund_given")).json() == {**new, "active": False}
    assert check(api.delete(f"{FIELDS}/q_refund_given")).status_code == 200
    assert_asapp_error(check(api.get(f"{FIELDS}/q_refund_given")), 404, "404-01")


def test_segment_patch_changes_only_the_given_parts(api, configuration_spec):
    check = configuration_spec.check
    created = {
        "id": "VIP",
        "name": "VIP",
        "query": {"type": "raw", "raw": "TRUE"},
        "structuredDataFieldIds": [],
    }
    assert check(api.post(SEGMENTS_PATH, json=created)).status_code == 201
    patched = check(api.patch(f"{SEGMENTS_PATH}/VIP", json={"structuredDataFieldIds": ["q_issue_escalated"]}))
    assert patched.json() == {**created, "structuredDataFieldIds": ["q_issue_escalated"]}
    assert check(api.delete(f"{SEGMENTS_PATH}/VIP")).status_code == 200


@pytest.mark.parametrize(
    ("request_args", "path"),
    [
        ({"method": "GET", "url": FIELDS, "params": {"limit": "0"}}, "/limit"),
        ({"method": "GET", "url": SEGMENTS_PATH, "params": {"limit": "101"}}, "/limit"),
        ({"method": "GET", "url": FIELDS, "params": {"active": "maybe"}}, "/active"),
        ({"method": "POST", "url": FIELDS, "json": {**{"id": "x_bad"}}}, "/id"),
        ({"method": "POST", "url": SEGMENTS_PATH, "json": {"id": "S", "name": "S"}}, "/query"),
        # drift found by the schemathesis run: null is no array, an id names later paths, bodies are JSON
        (
            {"method": "PATCH", "url": f"{SEGMENTS_PATH}/GLOBAL", "json": {"structuredDataFieldIds": None}},
            "/structuredDataFieldIds",
        ),
        ({"method": "PATCH", "url": f"{SEGMENTS_PATH}/GLOBAL", "json": {"name": None}}, "/name"),
        ({"method": "POST", "url": SEGMENTS_PATH, "json": {**SEGMENTS[0], "id": ""}}, "/id"),
        (
            {
                "method": "POST",
                "url": SEGMENTS_PATH,
                "content": b'{"id": "X"}',
                "headers": {"content-type": "text/plain"},
            },
            "/",
        ),
    ],
)
def test_invalid_requests_name_the_field(api, configuration_spec, request_args, path):
    response = api.request(**request_args)
    error = assert_asapp_error(response, 400, "400-01")
    assert error["message"].startswith(f"[Path '{path}']")
    configuration_spec.check(response, valid_request=False)


def test_the_configuration_can_be_reset_to_the_datasets(sandbox, api):
    assert api.delete(f"{SEGMENTS_PATH}/GLOBAL").status_code == 200
    assert api.patch(f"{SEGMENTS_PATH}/BILLING", json={"name": "Changed"}).json()["name"] == "Changed"
    sandbox.reset_configuration()
    segments = api.get(SEGMENTS_PATH).json()["segments"]
    assert segments == sorted(SEGMENTS, key=lambda segment: segment["id"])


def test_structured_data_answers_the_latest_generation_on_the_clock(sandbox, api, autosummary_spec):
    sandbox.set_clock(f"{DAY}T15:00:00Z")
    first = autosummary_spec.check(
        api.post("/autosummary/v1/structured-data", json={"conversationId": CONVERSATION_ID})
    ).json()
    assert first["conversationId"] == CONVERSATION_ID
    assert {m["id"]: m["value"] for m in first["structuredDataMetrics"]} == {
        "q_issue_escalated": "No",
        "e_account_number": "8999246118",
    }
    by_issue = api.post("/autosummary/v1/structured-data", json={"issueId": "1001"}).json()
    assert by_issue["structuredDataMetrics"] == first["structuredDataMetrics"]
    assert by_issue["id"] != first["id"]  # every call regenerates

    sandbox.set_clock(f"{DAY}T14:25:00Z")  # only the 14:20 generation exists yet
    earlier = api.post("/autosummary/v1/structured-data", json={"externalConversationId": "1001"}).json()
    assert earlier["structuredDataMetrics"] == [
        {"id": "q_issue_escalated", "name": "q issue escalated", "value": "Yes"}
    ]
    sandbox.set_clock(f"{DAY}T14:00:00Z")
    missing = api.post("/autosummary/v1/structured-data", json={"conversationId": CONVERSATION_ID})
    autosummary_spec.check(assert_asapp_error(missing, 404, "404-01") and missing)


def test_structured_data_needs_exactly_one_identifier(api, autosummary_spec):
    response = api.post("/autosummary/v1/structured-data", json={"conversationId": "A1", "issueId": "1"})
    assert_asapp_error(response, 400, "400-01")
    autosummary_spec.check(response, valid_request=False)


def test_health_answers_ok(api):
    assert api.get("/v1/health").json() == {"status": "ok"}
