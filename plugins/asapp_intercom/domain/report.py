"""The reconciliation report: per object, source against destination, and what did not make it.

Written as JSON (for tools) and Markdown (for people) beside the run's payloads, and summarised
in the task log. It holds ids, counts and reasons, never credentials.
"""

from __future__ import annotations

import json
from typing import Any

from asapp_intercom.domain.objects import LOAD_ORDER

MAX_LISTED = 500


def build_report(*, run_id: str, migration_id: str, params: dict, extract: dict[str, dict], field_map: dict | None,
                 transformed: dict | None, timeline: dict | None, plan: dict | None, schema: dict | None, loads: dict[str, dict],
                 validations: dict[str, dict], quarantined: list) -> dict[str, Any]:
    """The report of one run; `quarantined` holds the ledger's open quarantine rows of the run."""
    objects = []
    for object_type in LOAD_ORDER:
        load = loads.get(str(object_type))
        payloads = (transformed or {}).get("objects", {}).get(str(object_type))
        if load is None and payloads is None:
            continue
        validation = validations.get(str(object_type)) or {}
        row = {"object": str(object_type), "source": (load or payloads)["source_count"]}
        if load:
            row |= {key: load[key] for key in ("created", "updated", "unchanged", "quarantined", "requests",
                                               "balanced", "checksum")}
            row["in_intercom"] = load["created"] + load["updated"] + load["unchanged"]
        else:
            row |= {"quarantined": payloads["quarantined"], "in_intercom": None, "note": "not loaded in this run"}
        row |= {"validated": validation.get("matching"), "mismatched": validation.get("mismatched")}
        objects.append(row)
    feeds = {name: {key: manifest[key] for key in ("channel", "files_listed", "files_staged", "rows_staged",
                                                    "rows_quarantined", "partitions_complete")}
             | {"waiting_for_success": len(manifest["partitions_waiting"])} for name, manifest in extract.items()}
    return {
        "migration_id": migration_id,
        "run_id": run_id,
        "params": params,
        "field_map": field_map,
        "feeds": feeds,
        "gap": timeline,
        "plan": plan,
        "schema": schema,
        "objects": objects,
        "quarantined": [{"object": row.object_type, "source_id": row.source_id, "reason": row.reason}
                        for row in quarantined[:MAX_LISTED]],
        "quarantined_total": len(quarantined),
        "agents_without_intercom_admin": (transformed or {}).get("unmatched_agents", []),
        "validation_mismatches": {object_type: manifest.get("mismatches", [])
                                  for object_type, manifest in validations.items() if manifest.get("mismatched")},
    }


def _table(rows: list[dict], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(column) is None else str(row.get(column)).replace("|", "/")
                                       for column in columns) + " |")
    return lines


def render_markdown(report: dict) -> str:
    lines = [f"# Migration report: {report['migration_id']}", "", f"Run `{report['run_id']}`, "
             f"params `{json.dumps(report['params'], sort_keys=True)}`", ""]
    if report.get("field_map"):
        approval = report["field_map"]
        decision = (f"approved by {approval['approved_by']} at {approval['approved_at']}" if approval.get("approved_by")
                    else "not approved (dry run: nothing was written)")
        lines += [f"Field map `{approval['hash'][:12]}`: {decision}.", ""]
    lines += ["## Objects", ""]
    lines += _table(report["objects"], ["object", "source", "created", "updated", "unchanged", "quarantined",
                                        "in_intercom", "validated", "mismatched", "requests", "balanced"])
    if report.get("plan"):
        lines += ["", f"Plan: {report['plan']['requests']} requests, about {report['plan']['eta_minutes']} min "
                  f"at {report['plan']['requests_per_minute']} requests/min."]
    lines += ["", "## Feeds", ""]
    lines += _table([{"feed": name, **values} for name, values in sorted(report["feeds"].items())],
                    ["feed", "channel", "files_listed", "files_staged", "rows_staged", "rows_quarantined",
                     "partitions_complete", "waiting_for_success"])
    gap = report.get("gap") or {}
    if gap.get("events") is not None:
        lines += ["", "## What the batch feeds lacked (real-time events)", "",
                  f"{gap['events']} events; {len(gap['conversations_only_in_events'])} conversations exist only in the "
                  f"events, {len(gap['conversations_extended_by_events'])} got messages the batches do not have yet, "
                  f"{gap['messages_only_in_events']} messages in all."]
        if gap["conversations_only_in_events"]:
            lines.append(f"Only in events: {', '.join(gap['conversations_only_in_events'][:50])}")
        if gap.get("cursor_expired"):
            lines.append(f"**The event cursor expired** ({gap['cursor_expired']}): events before the oldest one ASAPP "
                         "still retained reach the migration through the batch feeds only, once they are delivered.")
    agents = report["agents_without_intercom_admin"]
    lines += ["", f"## Agents without an Intercom admin ({len(agents)})", "",
              "Their conversations are unassigned; their messages are posted by the migration's admin, "
              "prefixed with the agent's name.", ""]
    lines += _table(agents, ["rep_id", "name", "email"]) if agents else ["None."]
    lines += ["", f"## Quarantined records ({report['quarantined_total']})", ""]
    lines += _table(report["quarantined"], ["object", "source_id", "reason"]) if report["quarantined"] else ["None."]
    for object_type, mismatches in report["validation_mismatches"].items():
        lines += ["", f"## Read-back differences: {object_type}", ""]
        for item in mismatches:
            for problem in item["problems"]:
                lines.append(f"- `{item['source_id']}` {problem['field']}: expected {problem['expected']!r}, "
                             f"found {problem['actual']!r}")
    return "\n".join(lines) + "\n"


def summary_lines(report: dict) -> list[str]:
    """The few lines an operator reads in the task log."""
    lines = [f"Migration {report['migration_id']}, run {report['run_id']}:"]
    for row in report["objects"]:
        lines.append(f"  {row['object']:<18} source {row['source']:>7}  in Intercom {row.get('in_intercom') or 0:>7}  "
                     f"created {row.get('created') or 0:>6}  updated {row.get('updated') or 0:>6}  "
                     f"unchanged {row.get('unchanged') or 0:>6}  quarantined {row.get('quarantined') or 0:>5}  "
                     f"validated {row.get('validated') if row.get('validated') is not None else '-'}")
    lines.append(f"  quarantined records: {report['quarantined_total']}; agents without an Intercom admin: "
                 f"{len(report['agents_without_intercom_admin'])}")
    return lines
