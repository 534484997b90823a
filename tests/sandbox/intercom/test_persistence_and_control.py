"""State across restarts and crashes, export/seed round trip, reset, and seeded teammates."""

from __future__ import annotations

import base64
import json
import time

import httpx

from include.sandbox.intercom.server.launcher import run_intercom_sandbox, start_intercom_sandbox

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def populate(api: httpx.Client) -> dict:
    """A small but complete workspace: attributes, tags, a company with a contact, a conversation with a
    file."""
    admin_id = api.get("/me").json()["id"]
    api.post("/data_attributes", json={"name": "tier", "model": "contact", "data_type": "string"})
    api.post("/conversations/attributes", json={"name": "Source system", "data_type": "string"})
    contact = api.post(
        "/contacts", json={"email": "kept@example.com", "custom_attributes": {"tier": "gold"}}
    ).json()
    company = api.post("/companies", json={"company_id": "kept-co", "name": "Kept"}).json()
    api.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    tag = api.post("/tags", json={"name": "kept", "users": [{"id": contact["id"]}]}).json()
    conversation_id = api.post(
        "/conversations",
        json={"from": {"type": "user", "id": contact["id"]}, "body": "hello", "created_at": 1_600_000_000},
    ).json()["conversation_id"]
    api.post(
        f"/conversations/{conversation_id}/reply",
        json={
            "type": "admin",
            "message_type": "comment",
            "admin_id": admin_id,
            "body": "hi",
            "created_at": 1_600_000_100,
            "attachment_files": [
                {"content_type": "image/png", "data": base64.b64encode(PNG_1X1).decode(), "name": "a.png"}
            ],
        },
    )
    api.post(f"/conversations/{conversation_id}/tags", json={"id": tag["id"], "admin_id": admin_id})
    api.put(f"/conversations/{conversation_id}", json={"custom_attributes": {"Source system": "asapp"}})
    return {"contact": contact, "company": company, "tag": tag, "conversation_id": conversation_id}


def test_a_graceful_restart_keeps_everything(tmp_path, client):
    state = tmp_path / "workspace.json"
    with run_intercom_sandbox(state, search_delay=0, flush_interval=60) as sandbox, client(sandbox) as api:
        made = populate(api)
        before = sandbox.export()
    with run_intercom_sandbox(state, search_delay=0) as sandbox, client(sandbox) as api:
        after = sandbox.export()
        assert after["contacts"] == before["contacts"]
        conversation = api.get(f"/conversations/{made['conversation_id']}").json()
        attachment = conversation["conversation_parts"]["conversation_parts"][0]["attachments"][0]
        assert httpx.get(attachment["url"]).content == PNG_1X1
        assert conversation["custom_attributes"] == {"Source system": "asapp"}
        duplicate = api.post("/contacts", json={"email": "KEPT@example.com"})
        assert duplicate.status_code == 409  # the uniqueness index is rebuilt from the state


def test_a_crash_keeps_what_was_written_more_than_a_flush_interval_ago(tmp_path, client):
    state = tmp_path / "workspace.json"
    sandbox = start_intercom_sandbox(state, search_delay=0, flush_interval=0.2)
    with client(sandbox) as api:
        kept = api.post("/contacts", json={"email": "survivor@example.com"}).json()
        time.sleep(1.0)
    sandbox.crash()
    with run_intercom_sandbox(state, search_delay=0) as restarted, client(restarted) as api:
        assert api.get(f"/contacts/{kept['id']}").json()["email"] == "survivor@example.com"
        assert api.post("/contacts", json={"email": "another@example.com"}).status_code == 200


def test_export_then_seed_into_a_fresh_workspace_reproduces_it(tmp_path, client):
    with run_intercom_sandbox(tmp_path / "source.json", search_delay=0) as source, client(source) as api:
        made = populate(api)
        exported = source.export(include_file_data=True)
    tagged = next(tag for tag in exported["tags"] if tag["id"] == made["tag"]["id"])["tagged"]
    assert tagged == {
        "contacts": [made["contact"]["id"]],
        "companies": [],
        "conversations": [made["conversation_id"]],
    }
    assert next(c for c in exported["companies"] if c["id"] == made["company"]["id"])["contact_ids"] == [
        made["contact"]["id"]
    ]
    parts = exported["conversations"][0]["parts"]
    assert [(part["created_at"], part["author"]["type"]) for part in parts] == [(1_600_000_100, "admin")]
    assert parts[0]["attachments"][0]["name"] == "a.png"

    with run_intercom_sandbox(tmp_path / "copy.json", search_delay=0) as copy, client(copy) as api:
        copy.seed(exported)
        reseeded = copy.export(include_file_data=True)
        for section in (
            "contacts",
            "companies",
            "tags",
            "data_attributes",
            "conversation_attributes",
            "files",
        ):
            assert reseeded[section] == exported[section], section
        strip_urls = [
            {**part, "attachments": [{**a, "url": None} for a in part["attachments"]]} for part in parts
        ]
        assert [
            {**part, "attachments": [{**a, "url": None} for a in part["attachments"]]}
            for part in reseeded["conversations"][0]["parts"]
        ] == strip_urls
        conversation = api.get(f"/conversations/{made['conversation_id']}").json()
        url = conversation["conversation_parts"]["conversation_parts"][0]["attachments"][0]["url"]
        assert httpx.get(url).content == PNG_1X1
        assert api.post("/contacts", json={"email": "kept@example.com"}).status_code == 409
        new_tag = api.post("/tags", json={"name": "fresh"}).json()
        assert int(new_tag["id"]) > int(made["tag"]["id"])  # sequences moved past the seeded ids


def test_a_hand_written_seed_and_reset(tmp_path, client):
    with run_intercom_sandbox(tmp_path / "ws.json", search_delay=0) as sandbox, client(sandbox) as api:
        sandbox.seed(
            {
                "data_attributes": [{"name": "legacy_id", "model": "contact", "data_type": "string"}],
                "contacts": [
                    {
                        "id": "5f0c0c0c0c0c0c0c0c0c0c0c",
                        "email": "seeded@example.com",
                        "custom_attributes": {"legacy_id": "A1"},
                    }
                ],
                "companies": [
                    {"company_id": "seeded-co", "name": "Seeded", "contact_ids": ["5f0c0c0c0c0c0c0c0c0c0c0c"]}
                ],
                "tags": [{"name": "seeded", "tagged": {"contacts": ["5f0c0c0c0c0c0c0c0c0c0c0c"]}}],
            }
        )
        contact = api.get("/contacts/5f0c0c0c0c0c0c0c0c0c0c0c").json()
        assert contact["custom_attributes"] == {"legacy_id": "A1"}
        assert contact["companies"]["total_count"] == 1 and contact["tags"]["total_count"] == 1
        assert api.post("/contacts", json={"email": "Seeded@example.com"}).status_code == 409
        sandbox.reset()
        assert api.get("/contacts/5f0c0c0c0c0c0c0c0c0c0c0c").status_code == 404
        assert api.get("/me").status_code == 200


def test_teammates_come_from_the_admins_file_and_the_control_api(tmp_path, client):
    admins_file = tmp_path / "admins.json"
    admins_file.write_text(
        json.dumps(
            [
                {"name": "Grace Hopper", "email": "grace@example.com"},
                {"name": "Alan", "email": "alan@example.com"},
            ]
        )
    )
    with (
        run_intercom_sandbox(tmp_path / "ws.json", admins_file=admins_file) as sandbox,
        client(sandbox) as api,
    ):
        me = api.get("/me").json()
        assert me["email"] == "grace@example.com"  # the first teammate owns the token
        added = sandbox.add_admins({"name": "Katherine", "email": "katherine@example.com"})
        listed = {admin["email"]: admin["id"] for admin in api.get("/admins").json()["admins"]}
        assert set(listed) == {"grace@example.com", "alan@example.com", "katherine@example.com"}
        assert api.get(f"/admins/{added[0]['id']}").json()["name"] == "Katherine"
        assert api.get("/admins/1").json()["errors"][0]["code"] == "admin_not_found"
