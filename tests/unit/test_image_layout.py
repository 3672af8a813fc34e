"""The Docker image's files import every DAG: checked without a Docker engine.

A DAG can import in the checkout and still fail in the image, when a file it needs is kept out
by ``.dockerignore`` or is never built there (the dbt manifest was both). This module lays out a
temp directory the way the Dockerfile lays out /opt/airflow — its COPY lines, filtered by
``.dockerignore`` with Docker's matching rules — runs the Dockerfile's manifest step on it, and
parses the DAG folder in a child process whose PYTHONPATH is the image's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_ROOT = "/opt/airflow"
EXPECTED_DAGS = {"placewise_nightly", "placewise_backfill", "placewise_replay", "placewise_doctor"}


# -- the Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    if pending:
        raise ValueError(f"Dockerfile ends inside a continued line: {pending!r}")
    return instructions


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    """The ``ENV key=value ...`` settings, in order (later ones win)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword != "ENV":
            continue
        for pair in shlex.split(ins.arguments):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"ENV {ins.arguments!r}: only the key=value form is supported")
            env[key] = value
    return env


def copies_of(instructions: list[Instruction]) -> list[tuple[list[str], str]]:
    """``(sources, destination)`` of every COPY, its ``--flag`` options dropped."""
    copies = []
    for ins in instructions:
        if ins.keyword != "COPY":
            continue
        words = [w for w in shlex.split(ins.arguments) if not w.startswith("--")]
        if len(words) < 2:
            raise ValueError(f"COPY {ins.arguments!r} needs a source and a destination")
        copies.append((words[:-1], words[-1]))
    return copies


# -- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's rule: the pattern is anchored at the context root; ``*`` and ``?`` stay within
    one path segment, ``**`` spans any number of them, ``[...]`` is a character class."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            else:
                out += ".*"
                i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError(f".dockerignore pattern {pattern!r}: '[' is never closed")
            out += "[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]"
            i = end + 1
            continue
        elif char == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


class DockerIgnore:
    """``.dockerignore`` as the Docker builder applies it.

    A path is excluded when it, or any directory above it, matches a pattern; ``!pattern`` lines
    re-include, and the last matching line decides.
    """

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:].strip() if include else line
            pattern = str(PurePosixPath(os.path.normpath(pattern.lstrip("/"))))
            self.rules.append((_pattern_regex(pattern), include))

    def excludes(self, path: str) -> bool:
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for regex, include in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not include
        return excluded


# -- the layout ---------------------------------------------------------------------------------


def _image_path(root: Path, image_path: str) -> Path:
    if not (image_path == IMAGE_ROOT or image_path.startswith(IMAGE_ROOT + "/")):
        raise ValueError(f"{image_path!r} is outside {IMAGE_ROOT}, which this test lays out")
    return root / image_path[len(IMAGE_ROOT) :].lstrip("/")


def _in_image(text: str, root: Path) -> str:
    return text.replace(IMAGE_ROOT, str(root))


def lay_out(context: Path, copies: list[tuple[list[str], str]], ignore: DockerIgnore, root: Path):
    """Copy what each COPY takes from ``context`` to where it lands under ``root``."""
    for sources, destination in copies:
        into_directory = destination.endswith("/") or len(sources) > 1
        target = _image_path(root, destination)
        for source in sources:
            relative = source.rstrip("/")
            path = context / relative
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    inner = file.relative_to(context).as_posix()
                    if file.is_file() and not ignore.excludes(inner):
                        landed = target / file.relative_to(path)
                        landed.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(file, landed)
            elif path.is_file():
                if ignore.excludes(relative):
                    raise AssertionError(f"COPY {source} names a file .dockerignore excludes")
                landed = target / path.name if into_directory else target
                landed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, landed)
            else:
                raise AssertionError(f"COPY source {source} does not exist in the checkout")


def image_environment(instructions: list[Instruction], root: Path) -> dict[str, str]:
    """The image's ENV with /opt/airflow moved to ``root``, over a minimal outer environment.

    Nothing of the test session's own PYTHONPATH, AIRFLOW_* or PLACEWISE_* settings leaks in: the
    child must find the code where the image has it.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PLACEWISE_", "DBT_", "PYTHON"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env.update({key: _in_image(value, root) for key, value in env_of(instructions).items()})
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{root / 'airflow.db'}"
    return env


def manifest_steps(instructions: list[Instruction]) -> list[str]:
    """The RUN commands that build the dbt manifest."""
    return [
        ins.arguments
        for ins in instructions
        if ins.keyword == "RUN" and re.search(r"placewise\.airflow\.dbt|dbt\s+parse", ins.arguments)
    ]


PROBE = """
import json
import placewise
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
print("LAYOUT " + json.dumps({
    "placewise": placewise.__file__,
    "dags_folder": bag.dag_folder,
    "dag_ids": sorted(bag.dag_ids),
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
}))
"""


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    instructions = dockerfile_instructions((REPO / "Dockerfile").read_text())
    ignore = DockerIgnore((REPO / ".dockerignore").read_text())
    root = tmp_path_factory.mktemp("image") / "opt-airflow"
    root.mkdir()
    lay_out(REPO, copies_of(instructions), ignore, root)
    env = image_environment(instructions, root)
    for command in manifest_steps(instructions):
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _in_image(command, root)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"RUN {command}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return root


@pytest.fixture(scope="module")
def probe(image_root: Path) -> dict:
    instructions = dockerfile_instructions((REPO / "Dockerfile").read_text())
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=image_root,
        env=image_environment(instructions, image_root),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("LAYOUT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("LAYOUT "))


# -- the matcher ----------------------------------------------------------------------------------


def test_dockerignore_patterns_are_anchored_at_the_context_root():
    ignore = DockerIgnore("tests\n*.egg-info\ndbt_project/target\n")
    assert ignore.excludes("tests")
    assert ignore.excludes("tests/unit/test_x.py")
    assert not ignore.excludes("plugins/tests/test_x.py")
    assert ignore.excludes("placewise_warehouse.egg-info/PKG-INFO")
    assert not ignore.excludes("plugins/placewise_warehouse.egg-info/PKG-INFO")
    assert ignore.excludes("dbt_project/target/manifest.json")
    assert not ignore.excludes("dbt_project/models/target.sql")


def test_dockerignore_double_star_matches_at_any_depth_and_star_within_one_segment():
    ignore = DockerIgnore("**/__pycache__\n**/*.pyc\n.env.*\n")
    assert ignore.excludes("__pycache__/a.cpython-311.pyc")
    assert ignore.excludes("plugins/placewise/__pycache__/config.cpython-311.pyc")
    assert ignore.excludes("plugins/placewise/stray.pyc")
    assert ignore.excludes(".env.local")
    assert not ignore.excludes("docker/.env.local")
    assert not ignore.excludes(".env")


def test_dockerignore_exception_lines_re_include_and_the_last_match_wins():
    ignore = DockerIgnore("docs\n!docs/keep.md\n")
    assert ignore.excludes("docs/other.md")
    assert not ignore.excludes("docs/keep.md")
    assert DockerIgnore("!docs/keep.md\ndocs\n").excludes("docs/keep.md")


def test_dockerfile_parsing_joins_continuations_and_reads_env_and_copy():
    instructions = dockerfile_instructions(
        "FROM base\n"
        "# a comment\n"
        "ENV A=/opt/airflow \\\n    B=two\n"
        "COPY --chown=airflow:0 x.toml y.md /opt/airflow/\n"
        "RUN echo one \\\n && echo two\n"
    )
    assert [i.keyword for i in instructions] == ["FROM", "ENV", "COPY", "RUN"]
    assert env_of(instructions) == {"A": "/opt/airflow", "B": "two"}
    assert copies_of(instructions) == [(["x.toml", "y.md"], "/opt/airflow/")]
    assert instructions[3].arguments == "echo one  && echo two"


# -- the image's layout -------------------------------------------------------------------------


def test_the_image_leaves_out_what_dockerignore_excludes(image_root):
    assert (image_root / "dags" / "placewise_nightly.py").is_file()
    assert (image_root / "plugins" / "placewise" / "config.py").is_file()
    assert (image_root / "plugins" / ".airflowignore").is_file()
    assert (image_root / "pyproject.toml").is_file()
    assert (image_root / "requirements.txt").is_file()
    assert not (image_root / "tests").exists()
    assert not (image_root / "bench").exists()


def test_the_dockerfile_builds_the_dbt_manifest(image_root):
    manifest = image_root / "dbt_project" / "target" / "manifest.json"
    assert manifest.is_file()
    nodes = json.loads(manifest.read_text())["nodes"]
    assert "model.placewise_warehouse.fct_sendings_stats" in nodes


def test_every_dag_imports_from_the_image_layout(probe, image_root):
    assert Path(probe["placewise"]).is_relative_to(image_root / "plugins")
    assert Path(probe["dags_folder"]) == image_root / "dags"
    assert probe["import_errors"] == {}
    assert set(probe["dag_ids"]) == EXPECTED_DAGS
