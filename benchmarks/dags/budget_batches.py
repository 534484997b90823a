"""The budget benchmark's Celery set-up (benchmarks/budget.py): one run maps a task over batches, each
calling Intercom as fast as its threads allow through the shared budget, the way a migration's mapped
load batches do on Celery workers. Only benchmarks/budget.py points a DAG processor at this folder.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task


@dag(schedule=None, catchup=False, max_active_tasks=16)
def budget_batches():
    @task
    def batches() -> list[int]:
        return list(range(1, get_current_context()["dag_run"].conf["batches"] + 1))

    @task(map_index_template="{{ batch_label }}", retries=0)
    def call_intercom(batch: int) -> int:
        from benchmarks.budget import Worker, drive

        context = get_current_context()
        conf = context["dag_run"].conf
        context["batch_label"] = f"{batch} of {conf['batches']}"
        worker = Worker(conf["migration"], tuple(conf["tokens"]), conf["share_per_minute"])
        limits = (conf["app_per_minute"], conf["workspace_per_minute"])
        return drive(
            conf["url"], worker, limits, conf["store"], conf["start"], conf["until"], conf["threads"]
        )

    @task
    def total(calls: list[int]) -> int:
        return sum(calls)

    total(call_intercom.expand(batch=batches()))


budget_batches()
