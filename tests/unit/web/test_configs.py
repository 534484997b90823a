"""The API server reads the migration configs once, and again only when a file changes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import yaml
from asapp_intercom.domain import config as config_module
from asapp_intercom.web import configs
from asapp_intercom.web.app import plugin_app
from starlette.testclient import TestClient

from tests.support.migrations import migration_config


def test_pushed_events_do_not_make_the_server_read_the_config_files_again(tmp_path, monkeypatch):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for name in ("pushed", "other_a", "other_b"):
        realtime = {"realtime": {"mode": "push", "webhook_conn_id": "hook"}} if name == "pushed" else {}
        (migrations / f"{name}.yaml").write_text(
            yaml.safe_dump(migration_config(name, tmp_path, asapp=realtime))
        )
    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(migrations))
    monkeypatch.setenv("AIRFLOW_CONN_HOOK", json.dumps({"conn_type": "generic", "password": "shared"}))
    reads = []
    real_read = config_module.load_config
    monkeypatch.setattr(config_module, "load_config", lambda path: reads.append(path.name) or real_read(path))
    client = TestClient(plugin_app)

    def post(n: int) -> int:
        body = json.dumps({"event_id": f"evt-{n}", "name": "journey", "event_type": "x"}).encode()
        signature = "sha256=" + hmac.new(b"shared", body, hashlib.sha256).hexdigest()
        return client.post(
            "/events/pushed", content=body, headers={"X-Asapp-Signature": signature}
        ).status_code

    assert all(post(n) == 200 for n in range(20))
    assert sorted(reads) == ["other_a.yaml", "other_b.yaml", "pushed.yaml"]  # once each, for 20 posts

    path = migrations / "other_a.yaml"
    path.write_text(path.read_text().replace("demo: true", "demo: true\ndescription: changed"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert post(20) == 200
    assert len(reads) == 6 and configs.migration("other_a").description == "changed"
