"""OpenLineage: what each migration task read and wrote, with the row counts of its manifest.

With `apache-airflow-providers-openlineage` installed and a transport configured (`[openlineage]
transport`), the provider asks every finished task for `get_openlineage_facets_on_complete`; the
extract, transform and load tasks answer with these datasets, so a data platform sees the chain
ASAPP feed → staged feed → the run's payloads → Intercom object:

- an ASAPP feed as read: `s3://<bucket>` + `[<prefix>/]<feed>/version=1/format=jsonl`, or for a File
  Exporter feed the API's address + `file_exporter/<feed>` (input statistics: rows read, files);
- the staging area: `raw/<feed>` (rows staged) and `payloads/<object>` (payloads written; each run's
  file is `runs/<run>/payloads/<object>.parquet`), named as OpenLineage names files and object storage;
- Intercom: `intercom://<workspace id>`, one dataset per object (`companies`, `contacts`,
  `conversations`, `attachments`, `tags`), with the records this run wrote (created + updated).

Imported only when the provider asks, so neither a DAG parse nor a task pays for OpenLineage's client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import input_statistics_input_dataset, output_statistics_output_dataset

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from asapp_intercom.pipeline.staging import Staging


def read(
    namespace_and_name: tuple[str, str], rows: int | None = None, files: int | None = None
) -> InputDataset:
    namespace, name = namespace_and_name
    facets = {}
    if rows is not None:
        facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=rows, fileCount=files
        )
    return InputDataset(namespace=namespace, name=name, inputFacets=facets)


def written(
    namespace_and_name: tuple[str, str], rows: int | None = None, files: int | None = None
) -> OutputDataset:
    namespace, name = namespace_and_name
    facets = {}
    if rows is not None:
        facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, fileCount=files
        )
    return OutputDataset(namespace=namespace, name=name, outputFacets=facets)


def stored(path: ObjectStoragePath) -> tuple[str, str]:
    """A path of the staging area as OpenLineage names it: `file` + path, or `<scheme>://<bucket>` + key."""
    if path.protocol in {"file", "local"}:
        return "file", path.path
    return f"{path.protocol}://{path.bucket}", path.key


def staged_feed(staging: Staging, feed: str) -> tuple[str, str]:
    return stored(staging.raw_feed(feed))


def payloads(staging: Staging, object_type: str) -> tuple[str, str]:
    return stored(staging.root / "payloads" / object_type)


def intercom_object(workspace_id: str, step: str) -> tuple[str, str]:
    return f"intercom://{workspace_id}", step
