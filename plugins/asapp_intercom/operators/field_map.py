"""The map phase: propose a field map, have a person approve (or edit) it, record the decision.

Nothing is written to Intercom before this phase ends. An approval is stored in the ledger with
who, when and the proposed map's hash; a later run whose proposal hashes the same reuses it
without asking. Only a demo config may approve itself, and it says so in the log.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseBranchOperator, Context, Param
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from asapp_intercom.domain.mapping import (
    DiscoveredSchema,
    FieldMapError,
    FieldMapping,
    apply_overrides,
    map_hash,
    propose,
    to_markdown,
)
from asapp_intercom.domain.times import instant
from asapp_intercom.operators.approval import RecordedAnswerApproval
from asapp_intercom.operators.base import MigrationOperator

PROPOSE, GATE, APPROVE, APPROVED = "map.propose", "map.needs_approval", "map.approve", "map.approved"


def discovered_schema(asapp: dict, profile: dict) -> DiscoveredSchema:
    """Fields come from the configuration API and from the feed; the API's types win."""
    fields = {item["id"]: {"type": "ENTITY", **item} for item in profile["structured_fields"]}
    fields.update({item["id"]: item for item in asapp.get("structured_data_fields", [])})
    return DiscoveredSchema(
        columns=profile["columns"],
        first_seen=profile["first_seen"],
        param_keys=profile["param_keys"],
        customer_attributes=profile["customer_attributes"],
        company_attributes=profile["company_attributes"],
        feedback_questions=profile["feedback_questions"],
        structured_fields=list(fields.values()),
    )


class ProposeFieldMapOperator(MigrationOperator):
    """Every field extraction saw, with a proposed Intercom target, type and confidence."""

    template_fields = ("extracted", "asapp")

    def __init__(self, *, extracted: Any, asapp: Any, **kwargs):
        super().__init__(**kwargs)
        self.extracted = extracted
        self.asapp = asapp

    def execute(self, context: Context) -> dict:
        from asapp_intercom.pipeline.profile import profile_staged

        profile = profile_staged(self.staging, self.ledger)
        self.log.info(
            "Staged feeds: %s", {manifest["feed"]: manifest["rows_staged"] for manifest in self.extracted}
        )
        entries = propose(discovered_schema(self.asapp, profile))
        digest = map_hash(entries)
        stored = self.ledger.approval(digest)
        self.log.info(
            "Proposed field map %s: %d fields, %d mapped, %d lossy; %s",
            digest[:12],
            len(entries),
            sum(1 for entry in entries if entry.target),
            sum(1 for entry in entries if entry.lossy),
            f"approved earlier by {stored.approved_by}" if stored else "not approved yet",
        )
        return {
            "hash": digest,
            "entries": [entry.model_dump() for entry in entries],
            "markdown": to_markdown(entries),
            "approved": stored is not None,
        }


class ApprovalGateOperator(BaseBranchOperator):
    """Ask a person only when there is something to ask: not for a dry run, a known map or a demo."""

    template_fields = ("proposal",)

    def __init__(self, *, proposal: Any, auto_approve: bool, **kwargs):
        super().__init__(**kwargs)
        self.proposal = proposal
        self.auto_approve = auto_approve

    def choose_branch(self, context: Context) -> str:
        if context["params"]["dry_run"] or self.proposal["approved"] or self.auto_approve:
            return APPROVED
        return APPROVE


class FieldMapApprovalOperator(RecordedAnswerApproval):
    """The human decision, in Airflow's Required Actions: approve the proposed map, edit it, or reject it."""

    def __init__(self, **kwargs):
        kwargs.pop("params", None)  # the run form's params belong to the DAG, not to this form
        super().__init__(
            subject="Approve the ASAPP → Intercom field map",
            body=(
                "Nothing has been written to Intercom yet. Review where each ASAPP field goes.\n\n"
                "To change an entry, fill *overrides* with JSON keyed by the ASAPP field, e.g. "
                '`{"convos_metadata.platform": {"target": "custom_attributes.channel"}, '
                '"customers.status": {"target": null}}` (`target`, `data_type`, `target_object` can change; '
                "core fields cannot). Then choose Approve.\n\n"
                f"{{{{ ti.xcom_pull(task_ids='{PROPOSE}')['markdown'] }}}}"
            ),
            options=["Approve", "Reject"],
            params={
                "overrides": Param(
                    {},
                    type="object",
                    title="Overrides",
                    description="Edits to the proposed map, keyed by ASAPP field; {} for none.",
                )
            },
            **kwargs,
        )


class ApprovedFieldMapOperator(MigrationOperator):
    """Settle the map this run uses, record the approval, and stop here if it was rejected."""

    template_fields = ("proposal",)

    def __init__(self, *, proposal: Any, **kwargs):
        super().__init__(**kwargs)
        self.proposal = proposal

    def execute(self, context: Context) -> dict:
        proposal, ledger = self.proposal, self.ledger
        proposed = [FieldMapping.model_validate(entry) for entry in proposal["entries"]]
        if (stored := ledger.approval(proposal["hash"])) is not None:
            self.log.info(
                "Field map %s was approved by %s at %s; not asking again",
                proposal["hash"][:12],
                stored.approved_by,
                stored.approved_at,
            )
            return self._result(stored.field_map, stored.approved_by, stored.approved_at.isoformat())
        if context["params"]["dry_run"]:
            self.log.info("Dry run: the proposed map is used unapproved; nothing will be written to Intercom")
            return self._result([entry.model_dump() for entry in proposed], None, None)
        answer = context["ti"].xcom_pull(task_ids=APPROVE)
        if answer is None:
            if self.migration.approval.mode != "auto":
                raise AirflowFailException("No approval answer was found for the field map")
            self.log.warning(
                "Field map auto-approved WITHOUT a person: allowed only because %s is a demo config "
                "(demo: true, approval.mode: auto)",
                self.migration.migration_id,
            )
            who, when, overrides = "auto-approval (demo config)", context["dag_run"].run_after.isoformat(), {}
        else:
            user = answer.get("responded_by_user") or {}
            who, when = user.get("name") or user.get("id") or "unknown", str(answer.get("responded_at"))
            if "Approve" not in answer["chosen_options"]:
                raise AirflowSkipException(
                    f"The field map was rejected by {who}; nothing was written to Intercom"
                )
            overrides = (answer.get("params_input") or {}).get("overrides") or {}
        try:
            effective = apply_overrides(proposed, overrides)
        except FieldMapError as error:
            ledger.forget_answer(context["run_id"], APPROVE)  # so that clearing map.approve asks again
            raise AirflowFailException(
                f"The approved edits cannot be used: {error}. Clear map.approve and answer again."
            ) from None
        entries = [entry.model_dump() for entry in effective]
        ledger.record_approval(proposal["hash"], entries, who, instant(when), context["run_id"])
        self.log.info(
            "Field map %s approved by %s at %s with %d edit(s)",
            proposal["hash"][:12],
            who,
            when,
            len(overrides),
        )
        return self._result(entries, who, when)

    def _result(self, entries: list[dict], who: str | None, when: str | None) -> dict:
        return {
            "entries": entries,
            "hash": map_hash(FieldMapping.model_validate(entry) for entry in entries),
            "proposal_hash": self.proposal["hash"],
            "approved_by": who,
            "approved_at": when,
        }
