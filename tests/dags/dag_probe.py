"""Run in a child process (Airflow reads its config at import): parse the DAG folder, per file,
and print what the policy tests check as one JSON line."""

from __future__ import annotations

import ast
import importlib
import json
import time
from pathlib import Path


def pre_import(path: Path) -> None:
    """Import the modules ``path`` imports before it is timed.

    The time then measures the file's own top-level code (building the DAG, rendering the dbt
    task group from the manifest), which every parse repeats, not the one-off import of the
    libraries behind it (Airflow's Task SDK, Cosmos, placewise), which depends on what the
    process loaded before."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            importlib.import_module(node.module)


def main() -> None:
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(conf.get("core", "dags_folder"))
    result: dict = {"files": {}, "dags": {}}
    for path in sorted(folder.glob("*.py")):
        pre_import(path)
        # CPU seconds of this process: what the file costs the DAG processor, not the wall
        # time that other work on the machine's cores adds to it
        started, cpu_started = time.perf_counter(), time.process_time()
        bag = DagBag(dag_folder=str(path))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        result["files"][path.name] = {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
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
