"""The locked dependencies work together where pip's metadata cannot tell.

``pip check`` only compares version ranges; a provider can still import a name its pinned
library no longer has (the Celery provider 3.26 and celery 5.7 did exactly that).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_celery_executor_imports_with_the_locked_celery_and_redis():
    code = (
        "import celery, redis\n"
        "from airflow.providers.celery.executors.celery_executor import CeleryExecutor\n"
        "from kombu.transport.redis import Transport\n"
        "print('LOADED', celery.__version__, redis.__version__,"
        " CeleryExecutor.__name__, Transport.__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    locked = {
        line.split("==")[0]: line.split("==")[1].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    [loaded] = [line for line in proc.stdout.splitlines() if line.startswith("LOADED ")]
    celery_version, redis_version, *names = loaded.split()[1:]
    assert (celery_version, redis_version) == (locked["celery"], locked["redis"])
    assert names == ["CeleryExecutor", "Transport"]


def test_the_lock_pins_every_direct_dependency_at_the_same_version():
    locked = {
        line.split("==")[0].lower(): line.split("==")[1].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    direct = {}
    for line in (REPO / "requirements.in").read_text().splitlines():
        if "==" not in line or line.startswith("#"):
            continue
        name, version = line.split("==")
        direct[name.split("[")[0].strip().lower().replace("_", "-")] = version.strip()
    assert direct, "requirements.in pins nothing"
    assert {name: locked.get(name) for name in direct} == direct
