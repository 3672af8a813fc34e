"""Run in a child process (Airflow reads its config at import): parse the DAG folder, per file,
and print what the policy tests check as one JSON line."""

from __future__ import annotations

import json
import time
from pathlib import Path


def main() -> None:
    import cosmos  # noqa: F401  - warm the import so per-file times measure the file, not Airflow
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(conf.get("core", "dags_folder"))
    result: dict = {"files": {}, "dags": {}}
    for path in sorted(folder.glob("*.py")):
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(path))
        seconds = time.perf_counter() - started
        result["files"][path.name] = {
            "seconds": seconds,
            "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "dag_ids": sorted(bag.dag_ids),
        }
        for dag in bag.dags.values():
            result["dags"][dag.dag_id] = {
                "file": path.name,
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "tags": sorted(dag.tags),
                "doc_md": dag.doc_md or "",
                "schedule": str(getattr(dag.timetable, "_expression", None)),
                "params": sorted(dag.params.keys()),
                "param_defaults": {k: dag.params.get_param(k).value for k in dag.params},
                "roots": sorted(t.task_id for t in dag.roots),
                "tasks": {
                    t.task_id: {
                        "owner": t.owner,
                        "retries": t.retries,
                        "retry_exponential_backoff": bool(t.retry_exponential_backoff),
                        "execution_timeout": t.execution_timeout.total_seconds()
                        if t.execution_timeout
                        else None,
                        "doc": bool(t.doc_md or t.doc),
                        "trigger_rule": str(t.trigger_rule),
                        "priority_weight": t.priority_weight,
                        "outlets": [getattr(o, "name", str(o)) for o in t.outlets],
                        "upstream": sorted(t.upstream_task_ids),
                    }
                    for t in dag.tasks
                },
            }
    print("PROBE " + json.dumps(result))


if __name__ == "__main__":
    main()
