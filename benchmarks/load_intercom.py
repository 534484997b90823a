"""How fast the loader writes to Intercom, and how well it spends a rate budget without tripping it.

Generates a dataset, stages and transforms it once, then loads companies, contacts, conversations
and attachments into a fresh Intercom sandbox twice: with the sandbox's rate limit off (the loader's
own ceiling) and with a per-minute budget (requests/s against the budget, 429s received, time spent
waiting for windows). Prints one line per load, and per object of the limited load the requests per
record it wrote and what the plan (`transform.plan`) counted beforehand (files ASAPP refuses to hand
over cost no request, which the plan cannot know).

    .venv/bin/python benchmarks/load_intercom.py [--conversations 300] [--budget 3000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))


def stage_and_transform(data: Path, work: Path, asapp) -> tuple:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from asapp_intercom.domain.feeds import FEEDS
    from asapp_intercom.domain.mapping import propose
    from asapp_intercom.domain.payloads import ConversationContext
    from asapp_intercom.hooks.asapp import AsappHook
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.operators.field_map import discovered_schema
    from asapp_intercom.pipeline.extract import extract_feed
    from asapp_intercom.pipeline.profile import profile_staged
    from asapp_intercom.pipeline.sources import FileExporterFeedSource, S3FeedSource
    from asapp_intercom.pipeline.staging import Staging

    staging, ledger = Staging(f"file://{work}/staging"), Ledger(f"sqlite:///{work}/stage.db", "bench")
    for name, feed in FEEDS.items():
        source = (
            FileExporterFeedSource(AsappHook("asapp_bench"))
            if name == "autosummary_structured_data"
            else S3FeedSource(S3Hook(aws_conn_id="asapp_bench_s3"), asapp.bucket)
        )
        extract_feed(source, feed, staging, ledger, "bench")
    entries = propose(discovered_schema({}, profile_staged(staging, ledger)))
    context = ConversationContext(entries=entries, agents={}, default_admin_id="0", bot_admin_id="0")
    return staging, entries, context, ledger


def load_once(
    label: str,
    staging,
    entries,
    context,
    intercom_url: str,
    token: str,
    work: Path,
    budget: int,
    concurrency: int,
) -> None:
    from asapp_intercom.domain.objects import ObjectType
    from asapp_intercom.domain.run_form import Scope
    from asapp_intercom.hooks.asapp import AsappHook
    from asapp_intercom.hooks.budget import Limits
    from asapp_intercom.hooks.intercom import IntercomHook
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.pipeline.load import LOADERS, LoadSettings
    from asapp_intercom.pipeline.plan import plan
    from asapp_intercom.pipeline.schema import ensure_schema
    from asapp_intercom.pipeline.transform import transform

    os.environ["AIRFLOW_CONN_INTERCOM_BENCH"] = json.dumps(
        {"conn_type": "intercom", "host": intercom_url, "password": token}
    )
    hook = IntercomHook("intercom_bench", limits=Limits(budget, budget), concurrency=concurrency)
    me = hook.get_me()
    context.default_admin_id = context.bot_admin_id = str(me["id"])
    # Each load starts from the staging ledger (it knows the staged files) and nothing loaded yet.
    shutil.copyfile(work / "stage.db", work / f"{label}.db")
    ledger = Ledger(f"sqlite:///{work}/{label}.db", "bench")
    payloads = transform(staging, ledger, f"bench-{label}", Scope(), context, [])
    ensure_schema(hook, ledger, f"bench-{label}", entries, [])
    asapp = AsappHook("asapp_bench")
    attachments = payloads.objects[ObjectType.ATTACHMENT]
    settings = LoadSettings(
        default_admin_id=str(me["id"]),
        search_consistency_seconds=1,
        concurrency=concurrency,
        fetch_attachment=lambda upload_id: asapp.download(asapp.attachment_url(upload_id)["url"]),
        files_to_come=frozenset(staging.payload_ids(attachments.path, "depends_on")),
    )
    planned = plan(staging, ledger, payloads, budget, 5_000)["objects"]
    started, calls, waited = time.monotonic(), hook.api.calls, hook.limiter.waited_seconds
    counted = []
    for name in ("companies", "contacts", "conversations", "attachments"):
        loader = LOADERS[ObjectType.of_step(name)](hook, ledger, f"bench-{label}", settings)
        manifest = loader.run(staging, payloads.objects[loader.object_type])
        assert manifest.balanced, manifest
        counted.append((name, manifest, planned[loader.object_type]["requests"]))
    seconds = time.monotonic() - started
    requests = hook.api.calls - calls
    print(
        f"{label:<22} {requests:>6} requests in {seconds:6.1f} s = {requests / seconds:7.1f} req/s"
        f"  (budget {budget}/min = {budget / 60:.0f}/s; retries {hook.api.retries}, "
        f"waiting for windows {hook.limiter.waited_seconds - waited:.1f} thread-s)",
        flush=True,
    )
    for name, manifest, predicted in counted:
        written = manifest.created + manifest.updated
        print(
            f"    {name:<14} {written:>6} written  {manifest.requests:>6} requests"
            f" ({manifest.retries} retried, {manifest.quarantined} quarantined)"
            f"  {manifest.requests / max(1, written):5.2f} per record"
            f"  plan said {predicted}",
            flush=True,
        )


def main() -> None:
    from include.sandbox.asapp.server.launcher import run_asapp_sandbox
    from include.sandbox.intercom.server.launcher import run_intercom_sandbox

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--budget", type=int, default=3000, help="requests per minute for the limited run")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "include.sandbox.asapp",
            "generate",
            "--out",
            str(work / "data"),
            "--conversations",
            str(args.conversations),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    end = json.loads((work / "data/_manifest.json").read_text())["realtime_window"]["end"]
    with run_asapp_sandbox(work / "data", daily_cap=10_000_000, clock=end) as asapp:
        os.environ["AIRFLOW_CONN_ASAPP_BENCH"] = json.dumps(
            {"conn_type": "asapp", "host": asapp.api_url, "login": asapp.api_id, "password": asapp.api_secret}
        )
        os.environ["AIRFLOW_CONN_ASAPP_BENCH_S3"] = json.dumps(asapp.aws_connection())
        staging, entries, context, stage_ledger = stage_and_transform(work / "data", work, asapp)
        stage_ledger.close()  # copied whole for each load
        # the ASAPP sandbox stays up: the attachments step fetches each file from its File Exporter
        for label, limit in (("limits off", 0), (f"budget {args.budget}/min", args.budget)):
            with run_intercom_sandbox(
                work / f"{label.replace(' ', '_').replace('/', '_')}.json",
                rate_limit_per_minute=limit,
                search_delay=0,
            ) as intercom:
                load_once(
                    label.replace(" ", "_").replace("/", "_"),
                    staging,
                    entries,
                    context,
                    intercom.url,
                    intercom.token,
                    work,
                    limit or 1_000_000,
                    args.concurrency,
                )


if __name__ == "__main__":
    main()
