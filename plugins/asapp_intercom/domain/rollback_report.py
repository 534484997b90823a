"""The rollback report: what the plan said, what was done, and what was left and why.

Written beside the plan (`rollbacks/<run>/report.{json,md}` in the staging area). Counts come from the
ledger's entries, so a killed try's work is in them; requests from what every try spent. A dry run's
report is its plan. Conflicts, records left alone and fields Intercom cannot put back are listed one by
one: nothing is skipped quietly.
"""

from __future__ import annotations

import json
from typing import Any

from asapp_intercom.domain.rollback import LISTED, OUTCOME, Action, count_by

FINAL = (
    "A deleted conversation is gone for good: Intercom keeps no copy. Intercom archives a deleted company "
    "in the background: let a few minutes pass before migrating it again."
)


def build_rollback_report(
    *,
    migration_id: str,
    run_id: str,
    form: dict,
    dry_run: bool,
    plan: dict | None,
    entries: list[dict],
    spent: dict[str, dict[str, int]],
    failed: list[dict],
    approval: dict | None,
) -> dict[str, Any]:
    done = [entry for entry in entries if entry["state"] == "done"]
    expected = {
        object_type: {OUTCOME[Action(action)]: count for action, count in row.items()}
        for object_type, row in (plan or {}).get("counts", {}).items()
    }
    outcomes = count_by((entry["object"], entry["outcome"]) for entry in done)
    sent = sum(row["requests"] for task, row in spent.items() if task != "plan.list")
    report: dict[str, Any] = {
        "migration_id": migration_id,
        "run_id": run_id,
        "form": form,
        "dry_run": dry_run,
        "scope": (plan or {}).get("scope"),
        "approval": approval,
        "failed_tasks": failed,
        "planned": expected,
        "planned_requests": (plan or {}).get("requests"),
        "eta_minutes": (plan or {}).get("eta_minutes"),
    }
    if dry_run:
        report["note"] = "Dry run: nothing was changed. The lists below are what a rollback would do."
        undos = (plan or {}).get("undos", [])
        report |= _lists(
            [
                {
                    "object": undo["object_type"],
                    "source_id": undo["source_id"],
                    "intercom_id": undo["intercom_id"],
                    "outcome": OUTCOME[Action(undo["action"])],
                    "detail": {"reason": undo["reason"], **undo["detail"]},
                }
                for undo in undos
            ]
        )
        return report
    report |= {
        "done": outcomes,
        "unfinished": len(entries) - len(done),
        "matches_plan": not failed and len(done) == len(entries) and outcomes == expected,
        "requests_sent": sent,
        "requests_by_task": spent,
    }
    report |= _lists(done)
    return report


def _lists(entries: list[dict]) -> dict[str, Any]:
    def listed(outcomes: set[str]) -> list[dict]:
        return [
            {
                "object": entry["object"],
                "source_id": entry["source_id"],
                "intercom_id": entry["intercom_id"],
                "reason": entry["detail"].get("refused") or entry["detail"].get("reason"),
            }
            for entry in entries
            if entry["outcome"] in outcomes
        ]

    not_restorable = [
        {"object": entry["object"], "source_id": entry["source_id"], **item}
        for entry in entries
        for item in entry["detail"].get("not_restorable") or []
    ]
    conflicts, left = listed({"conflict"}), listed({"left_alone", "refused"})
    return {
        "conflicts": conflicts[:LISTED],
        "conflicts_total": len(conflicts),
        "left_alone": left[:LISTED],
        "left_alone_total": len(left),
        "not_restorable": not_restorable[:LISTED],
        "not_restorable_total": len(not_restorable),
    }


def render_rollback_markdown(report: dict) -> str:
    title = "Rollback plan (dry run)" if report["dry_run"] else "Rollback report"
    lines = [
        f"# {title}: {report['migration_id']}",
        "",
        f"Run `{report['run_id']}`: {report.get('scope') or 'no plan was made'}.",
        f"Form `{json.dumps(report['form'], sort_keys=True, default=str)}`",
        "",
        f"**{FINAL}**",
        "",
    ]
    if report["failed_tasks"]:
        lines += ["## Why the rollback did not finish", ""]
        lines += [f"- `{item['task']}`: {item['error']}" for item in report["failed_tasks"]]
        lines += ["", "Clear the failed task: what is half done is finished, nothing is done twice.", ""]
    if report.get("note"):
        lines += [report["note"], ""]
    approval = report.get("approval")
    if approval:
        lines += [f"Approved by {approval.get('approved_by')} at {approval.get('approved_at')}.", ""]
    lines += ["## Planned", ""]
    lines += _outcome_table(report["planned"])
    lines += [
        "",
        f"{report.get('planned_requests')} requests, about {report.get('eta_minutes')} min.",
    ]
    if not report["dry_run"]:
        lines += ["", "## Done", ""]
        lines += _outcome_table(report["done"])
        lines += [
            "",
            f"{report['requests_sent']} requests sent; {report['unfinished']} entries unfinished; "
            f"{'as planned' if report['matches_plan'] else 'NOT as planned: compare the two tables'}.",
        ]
    sections = (
        ("Conflicts: changed in Intercom since the migration wrote them, left as they are", "conflicts"),
        ("Left alone", "left_alone"),
    )
    for title_text, key in sections:
        lines += ["", f"## {title_text} ({report[key + '_total']})", ""]
        lines += _rows(report[key], ["object", "source_id", "intercom_id", "reason"])
    lines += ["", f"## What Intercom's API cannot put back ({report['not_restorable_total']})", ""]
    lines += _rows(report["not_restorable"], ["object", "source_id", "field", "now", "before", "why"])
    return "\n".join(lines) + "\n"


def _outcome_table(counts: dict[str, dict[str, int]]) -> list[str]:
    """Per object, how many records ended each way (what the plan expects of each action, and any other)."""
    extra = sorted({name for row in counts.values() for name in row} - set(OUTCOME.values()))
    columns = [*OUTCOME.values(), *extra]
    rows = [
        {"object": name, **{column: row.get(column, 0) for column in columns}}
        for name, row in sorted(counts.items())
    ]
    return _rows(rows, ["object", *columns])


def _rows(rows: list[dict], columns: list[str]) -> list[str]:
    if not rows:
        return ["None."]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        lines.append(
            "| " + " | ".join(str(row.get(column, "")).replace("|", "/") for column in columns) + " |"
        )
    return lines


def summary_lines(report: dict) -> list[str]:
    lines = [f"Rollback of {report['migration_id']} ({report.get('scope')}), run {report['run_id']}:"]
    for item in report["failed_tasks"]:
        lines.append(f"  FAILED {item['task']}: {item['error']}")
    counts = report["planned"] if report["dry_run"] else report["done"]
    for object_type, row in sorted(counts.items()):
        lines.append(
            f"  {object_type:<18} " + ", ".join(f"{name} {count}" for name, count in sorted(row.items()))
        )
    lines.append(
        f"  conflicts {report['conflicts_total']}, left alone {report['left_alone_total']}, "
        f"not restorable {report['not_restorable_total']}"
    )
    return lines
