"""Discovery tasks: audit the ASAPP channels and the Intercom workspace (lists, never writes)."""

from __future__ import annotations

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.operators.base import MigrationOperator


class DiscoverAsappOperator(MigrationOperator):
    """Per feed and channel: partitions, files, batch window, rows already read; fields and segments."""

    def execute(self, context: Context, event: dict | None = None) -> dict:
        from asapp_intercom.hooks.asapp import DailyCapReached
        from asapp_intercom.pipeline.discover import discover_configuration, discover_feeds
        from asapp_intercom.pipeline.sources import RequiredFeedMissing

        self.window(context)  # a scheduled or backfill run after the cutover stops here, and all after it
        try:
            feeds = discover_feeds(
                {name: self.feed_source(name) for name in FEEDS},
                self.ledger,
                self.migration.asapp.required_feeds,
            )
            configuration = discover_configuration(self.asapp_hook)
        except DailyCapReached as cap:
            self.wait_for_cap_reset(context, cap)
        except RequiredFeedMissing as missing:
            raise AirflowFailException(str(missing)) from None
        for name, audit in feeds.items():
            if not audit["available"]:
                self.log.warning(
                    "%-28s %-14s %s; the migration goes on without it",
                    name,
                    audit["channel"],
                    audit["unavailable"],
                )
                continue
            self.log.info(
                "%-28s %-14s %5d partitions %6d files, window %s, %d waiting for _SUCCESS, "
                "%d files not read yet, %d not data",
                name,
                audit["channel"],
                audit["partitions"],
                audit["files"],
                audit["window"],
                len(audit["waiting_for_success"]),
                audit["files_not_yet_read"],
                audit["files_ignored"],
            )
        self.log.info(
            "Configuration API: %d structured-data fields, %d segments, %d redaction entities, "
            "%d custom vocabularies%s",
            len(configuration["structured_data_fields"]),
            len(configuration["segments"]),
            len(configuration["redaction_entities"]),
            len(configuration["custom_vocabularies"]),
            "".join(
                f"; {name} not read: {why}" for name, why in configuration["configuration_not_read"].items()
            ),
        )
        return {"feeds": feeds, **configuration}


class DiscoverIntercomOperator(MigrationOperator):
    """The destination as it is: who the token acts as, admins, attributes, tags, record counts."""

    def execute(self, context: Context) -> dict:
        from asapp_intercom.pipeline.discover import discover_intercom

        workspace = discover_intercom(self.intercom_hook)
        self.log.info(
            "Intercom workspace %s as %s: %d admins, %s contacts, %s conversations, %d tags, "
            "custom attributes %s",
            workspace["me"]["workspace"],
            workspace["me"]["email"],
            len(workspace["admins"]),
            workspace["counts"]["contacts"],
            workspace["counts"]["conversations"],
            len(workspace["tags"]),
            {model: len(items) for model, items in workspace["data_attributes"].items()},
        )
        return workspace
