"""Write ``.env`` for docker compose from ``.env.example``, with fresh secrets.

Every value written as ``CHANGE_ME`` in the example gets a new random value: a Fernet key for
``*FERNET_KEY`` (Airflow encrypts Connection passwords with it), hex characters otherwise (URL-safe,
so passwords can sit inside connection URLs). Other lines are copied unchanged. An
existing ``.env`` is never overwritten without ``--force``: its Fernet key decrypts data already
stored in the metadata database.

Usage: python docker/generate_env.py [--example .env.example] [--output .env] [--force]
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

PLACEHOLDER = "CHANGE_ME"
REPO_ROOT = Path(__file__).resolve().parent.parent


def fernet_key() -> str:
    """A new key in the format ``cryptography.fernet.Fernet.generate_key()`` returns."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def secret_for(name: str) -> str:
    """A fresh random value suited to the variable ``name``."""
    if name.endswith("FERNET_KEY"):
        return fernet_key()
    if name.endswith("PASSWORD"):
        return secrets.token_hex(16)
    return secrets.token_hex(32)


def render(example: str) -> str:
    """The text of ``example`` with every ``NAME=CHANGE_ME`` line given a generated value."""
    lines = []
    for line in example.splitlines(keepends=True):
        name, sep, value = line.rstrip("\r\n").partition("=")
        if sep and not name.lstrip().startswith("#") and value.strip() == PLACEHOLDER:
            ending = line[len(line.rstrip("\r\n")) :]
            line = f"{name}={secret_for(name.strip())}{ending}"
        lines.append(line)
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, default=REPO_ROOT / ".env.example")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / ".env")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        print(
            f"{args.output} exists; keeping it (its Fernet key protects stored secrets). "
            "Use --force to replace it.",
            file=sys.stderr,
        )
        return 1
    args.output.write_text(render(args.example.read_text(encoding="utf-8")), encoding="utf-8")
    args.output.chmod(0o600)
    print(f"Wrote {args.output}; review PLACEWISE_API_URL, PLACEWISE_API_TOKEN, COMPOSE_PROFILES.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
