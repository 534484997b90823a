"""The reconciliation report: per object, source against destination, and what did not make it.

Written as JSON (for tools) and Markdown (for people) beside the run's payloads, and summarised
in the task log. It says why a run failed (the failed task and its error), and counts over every
try of the run and over the whole migration, from the ledger: a killed try's records and requests
are in it, and quarantined items stay listed until a later run resolves them. It holds ids,
counts and reasons, never credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from asapp_intercom.domain.cutover import cutover_markdown
from asapp_intercom.domain.objects import LOAD_ORDER

MAX_LISTED = 500
FAILED = {"failed", "upstream_failed"}


@dataclass
class LedgerView:
    """What the ledger holds for the report, as plain data (the domain reads no database)."""

    quarantined: list[dict] = field(default_factory=list)
    """Open quarantine of the whole migration: {object, source_id, reason, run_id}."""
    fields_left_out: list[dict] = field(default_factory=list)
    """Open field issues of the whole migration: {object, source_id, field, value, reason, run_id}."""
    this_run: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per object type: what this run did to its records, over all its tries (created, updated, unchanged)."""
    migration: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per object type: records in Intercom (done), pending, and how many existed before the migration."""
    spent: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per task id: requests and retries over every try of the run, and the number of tries."""
    events: list[dict] = field(default_factory=list)
    """Failures, retries and waits of the run's tasks: {task, map_index, try, kind, message}."""


def build_report(
    *,
    run_id: str,
    migration_id: str,
    params: dict,
    extract: dict[str, dict],
    field_map: dict | None,
    transformed: dict | None,
    timeline: dict | None,
    plan: dict | None,
    schema: dict | None,
    loads: dict[str, dict],
    validations: dict[str, dict],
    ledger: LedgerView,
    task_states: dict[str, str] | None = None,
) -> dict[str, Any]:
    objects = []
    for object_type in LOAD_ORDER:
        name = str(object_type)
        load, payloads = loads.get(name), (transformed or {}).get("objects", {}).get(name)
        if load is None and payloads is None:
            continue
        validation, done = validations.get(name) or {}, ledger.this_run.get(name, {})
        row: dict[str, Any] = {
            "object": name,
            "source": (payloads or load)["source_count"],
            "quarantined": sum(
                1 for item in ledger.quarantined if item["object"] == name and item["run_id"] == run_id
            ),
            "fields_left_out": (payloads or {}).get("fields_left_out", 0),
        }
        if load is not None:
            spent = ledger.spent.get(f"load.{object_type.step}", {})
            row |= {
                "created": done.get("created", 0),
                "updated": done.get("updated", 0),
                "unchanged": done.get("unchanged", 0),
                "requests": spent.get("requests", load["requests"]),
                "tries": spent.get("tries", 1),
                "balanced": load["balanced"],
                "checksum": load["checksum"],
            }
        else:
            row["note"] = "not loaded in this run"
        row |= {
            "in_intercom": ledger.migration.get(name, {}).get("done", 0),
            "validated": validation.get("matching"),
            "mismatched": validation.get("mismatched"),
            "validated_earlier": validation.get("unchanged_since_read_back"),
        }
        objects.append(row)
    feeds = {name: _feed(manifest) for name, manifest in extract.items()}
    failed = sorted(task for task, state in (task_states or {}).items() if state == "failed")
    not_run = sorted(task for task, state in (task_states or {}).items() if state == "upstream_failed")
    return {
        "migration_id": migration_id,
        "run_id": run_id,
        "params": params,
        "failed_tasks": [{"task": task, "error": last_error(task, ledger.events)} for task in failed],
        "not_run": not_run,
        "events": ledger.events[:MAX_LISTED],
        "field_map": field_map,
        "feeds": feeds,
        "gap": timeline,
        "plan": plan,
        "schema": schema,
        "objects": objects,
        "migration_totals": {
            name: ledger.migration.get(name, {}) for name in map(str, LOAD_ORDER) if name in ledger.migration
        },
        "quarantined": ledger.quarantined[:MAX_LISTED],
        "quarantined_total": len(ledger.quarantined),
        "quarantined_this_run": sum(1 for item in ledger.quarantined if item["run_id"] == run_id),
        "quarantined_by_kind": _count_by(ledger.quarantined, "object"),
        "quarantine_reasons": quarantine_reasons(
            item for item in ledger.quarantined if item["run_id"] == run_id
        ),
        "fields_left_out": ledger.fields_left_out[:MAX_LISTED],
        "fields_left_out_total": len(ledger.fields_left_out),
        "agents_without_intercom_admin": (transformed or {}).get("unmatched_agents", []),
        "conversation_lengths": (transformed or {}).get("conversation_lengths", {}),
        "validation_mismatches": {
            object_type: manifest.get("mismatches", [])
            for object_type, manifest in validations.items()
            if manifest.get("mismatched")
        },
    }


def _feed(manifest: dict) -> dict:
    if not manifest.get("available", True):
        return {
            "channel": manifest["channel"],
            "available": False,
            "note": f"not available for this tenant: {manifest.get('unavailable', '')}",
        }
    return {
        key: manifest.get(key)
        for key in (
            "channel",
            "files_listed",
            "files_staged",
            "rows_staged",
            "rows_quarantined",
            "partitions_complete",
        )
    } | {
        "available": True,
        "waiting_for_success": len(manifest.get("partitions_waiting", [])),
        "files_ignored": len(manifest.get("files_ignored", [])),
        "files_broken": len(manifest.get("files_broken", [])),
    }


def last_error(task: str, events: list[dict]) -> str:
    """A failed task's last recorded error (a mapped task's id carries its index: feed_3)."""
    mine = [
        event
        for event in events
        if task in (event["task"], f"{event['task']}_{event['map_index']}")
        and event["kind"] in {"failed", "retried"}
    ]
    return mine[-1]["message"] if mine else "no error was recorded: its process ended (or it never ran)"


REASON_SHAPES = (
    (re.compile(r"^(?P<field>[\w.]+): [^;]* is not (?P<type>an? \w+)$", re.S), "{field}: not {type}"),
    (re.compile(r"^Intercom answered (?P<status>\d+) (?P<code>\S+):"), "Intercom answered {status} {code}"),
    (
        re.compile(r"^the file cannot be read to its end \((?P<error>\w+)"),
        "file cannot be read to its end ({error})",
    ),
)


def reason_kind(reason: str) -> str:
    """A quarantine reason without the values it quotes, so that items of one kind count together:
    "created_ts: 'yesterday' is not a timestamp" and "created_ts: '' is not a timestamp" are one kind."""
    for shape, label in REASON_SHAPES:
        if match := shape.match(reason):
            return label.format(**match.groupdict())
    kind = re.sub(r"https?://\S+", "…", reason)
    kind = re.sub(r"\([^)]*\)", "(…)", kind)
    kind = re.sub(r"'[^']*'|\"[^\"]*\"", "…", kind)
    return re.sub(r"\d+", "N", kind)[:120]


def quarantine_reasons(items: Iterable[dict]) -> list[dict]:
    """How many quarantined items of each object have each kind of reason, most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item["object"], reason_kind(item["reason"]))
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return [{"object": kind[0], "reason": kind[1], "count": count} for kind, count in ranked]


def _count_by(items: list[dict], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item[key]] = counts.get(item[key], 0) + 1
    return dict(sorted(counts.items()))


def _table(rows: list[dict], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append(
            "| "
            + " | ".join("" if row.get(column) is None else _cell(row.get(column)) for column in columns)
            + " |"
        )
    return lines


def _cell(value: Any) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def render_markdown(report: dict) -> str:
    lines = [
        f"# Migration report: {report['migration_id']}",
        "",
        f"Run `{report['run_id']}`, params `{json.dumps(report['params'], sort_keys=True, default=str)}`",
        "",
    ]
    if report["failed_tasks"]:
        lines += ["## Why the run failed", ""]
        lines += [f"- `{item['task']}`: {item['error']}" for item in report["failed_tasks"]]
        if report.get("not_run"):
            lines.append(f"- not run because of it: {', '.join(f'`{task}`' for task in report['not_run'])}")
        lines.append("")
    if report.get("field_map"):
        approval = report["field_map"]
        decision = (
            f"approved by {approval['approved_by']} at {approval['approved_at']}"
            if approval.get("approved_by")
            else "not approved (dry run: nothing was written)"
        )
        lines += [f"Field map `{approval['hash'][:12]}`: {decision}.", ""]
    if report.get("cutover"):
        lines += cutover_markdown(report["cutover"]) + [""]
    if report.get("inventory"):
        links = report["inventory"]
        lines += [
            f"ASAPP's configuration: [inventory]({links['inventory']}) ([json]({links['inventory_json']})) "
            f"and the [Intercom implementation guide]({links['implementation_guide']}).",
            "",
        ]
    lines += [
        "## Objects",
        "",
        "This run (over all its tries) and, in `in_intercom`, the whole migration so far.",
        "",
    ]
    lines += _table(
        report["objects"],
        [
            "object",
            "source",
            "created",
            "updated",
            "unchanged",
            "quarantined",
            "fields_left_out",
            "in_intercom",
            "validated",
            "validated_earlier",
            "mismatched",
            "requests",
            "tries",
            "balanced",
        ],
    )
    if report.get("plan"):
        lines += [
            "",
            f"Plan: {report['plan']['requests']} requests, about {report['plan']['eta_minutes']} min "
            f"at {report['plan']['requests_per_minute']} requests/min.",
        ]
    lines += ["", "## Feeds", ""]
    lines += _table(
        [{"feed": name, **values} for name, values in sorted(report["feeds"].items())],
        [
            "feed",
            "channel",
            "files_listed",
            "files_staged",
            "rows_staged",
            "rows_quarantined",
            "partitions_complete",
            "waiting_for_success",
            "files_ignored",
            "files_broken",
            "note",
        ],
    )
    lines += _gap(report.get("gap") or {})
    agents = report["agents_without_intercom_admin"]
    lines += [
        "",
        f"## Agents without an Intercom admin ({len(agents)})",
        "",
        "Their conversations are unassigned; their messages are posted by the migration's admin, "
        "prefixed with the agent's name.",
        "",
    ]
    lines += _table(agents, ["rep_id", "name", "email"]) if agents else ["None."]
    lines += [
        "",
        f"## Quarantined ({report['quarantined_total']} open in the migration, "
        f"{report['quarantined_this_run']} from this run)",
        "",
        "Not in Intercom, each with its reason; a later run that can load one lifts it.",
        "",
    ]
    if report["quarantined_by_kind"]:
        lines += [", ".join(f"{kind}: {count}" for kind, count in report["quarantined_by_kind"].items()), ""]
    if report.get("quarantine_reasons"):
        lines += ["This run's, by kind of reason:", ""]
        lines += _table(report["quarantine_reasons"], ["object", "reason", "count"]) + [""]
    lines += (
        _table(report["quarantined"], ["object", "source_id", "reason", "run_id"])
        if report["quarantined"]
        else ["None."]
    )
    lines += [
        "",
        f"## Fields left out ({report['fields_left_out_total']})",
        "",
        "These records are in Intercom without the field: Intercom would refuse or misread the value. "
        "The value ASAPP had is kept here.",
        "",
    ]
    lines += (
        _table(report["fields_left_out"], ["object", "source_id", "field", "value", "reason"])
        if report["fields_left_out"]
        else ["None."]
    )
    for object_type, mismatches in report["validation_mismatches"].items():
        lines += ["", f"## Read-back differences: {object_type}", ""]
        for item in mismatches:
            for problem in item["problems"]:
                lines.append(
                    f"- `{item['source_id']}` {problem['field']}: expected {problem['expected']!r}, "
                    f"found {problem['actual']!r}"
                )
    if report["events"]:
        lines += ["", "## What happened to the run's tasks", ""]
        lines += _table(report["events"], ["task", "map_index", "try", "kind", "message"])
    return "\n".join(lines) + "\n"


def _gap(gap: dict) -> list[str]:
    if gap.get("events") is None:
        return []
    lines = [
        "",
        "## What the batch feeds lacked (real-time events)",
        "",
        f"{gap['events']} events; {len(gap['conversations_only_in_events'])} conversations exist only in the "
        f"events, {len(gap['conversations_extended_by_events'])} got messages the batches do not have yet, "
        f"{gap['messages_only_in_events']} messages in all.",
    ]
    if gap["conversations_only_in_events"]:
        lines.append(f"Only in events: {', '.join(gap['conversations_only_in_events'][:50])}")
    if gap.get("cursor_expired"):
        lines.append(
            f"**The event cursor expired** ({gap['cursor_expired']}): events before the oldest one ASAPP "
            "still retained reach the migration through the batch feeds only, once they are delivered."
        )
    return lines


def summary_lines(report: dict) -> list[str]:
    """The few lines an operator reads in the task log."""
    lines = [f"Migration {report['migration_id']}, run {report['run_id']}:"]
    for item in report["failed_tasks"]:
        lines.append(f"  FAILED {item['task']}: {item['error']}")
    if report.get("not_run"):
        lines.append(f"  not run because of it: {len(report['not_run'])} tasks")
    for row in report["objects"]:
        lines.append(
            f"  {row['object']:<18} source {row['source']:>7}  in Intercom {row.get('in_intercom') or 0:>7}  "
            f"created {row.get('created') or 0:>6}  updated {row.get('updated') or 0:>6}  "
            f"unchanged {row.get('unchanged') or 0:>6}  quarantined {row.get('quarantined') or 0:>5}  "
            f"validated {row.get('validated') if row.get('validated') is not None else '-'}"
        )
    lines.append(
        f"  quarantined: {report['quarantined_total']} open ({report['quarantined_this_run']} from this "
        f"run); "
        f"fields left out: {report['fields_left_out_total']}; agents without an Intercom admin: "
        f"{len(report['agents_without_intercom_admin'])}"
    )
    return lines
