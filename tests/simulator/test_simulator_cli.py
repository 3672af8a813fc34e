"""The command line documents every option and starts a working server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from placewise_simulator.__main__ import build_parser, config_from_args
from placewise_simulator.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = (
    "--host",
    "--port",
    "--seed",
    "--clubs",
    "--history-days",
    "--now",
    "--token",
    "--rate-capacity",
    "--rate-refill",
    "--fault-rate",
    "--fault-seed",
    "--cache-days",
    "--variant",
)


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text


def test_defaults_match_the_contract():
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert (config.seed, config.clubs, config.history_days, config.token) == (
        42,
        3,
        60,
        "dev-token",
    )
    assert (config.rate_capacity, config.rate_refill, config.fault_rate) == (60, 6, 0)
    assert config.now is None


def test_serve_starts_a_server_in_its_own_process():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "simulator"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "placewise_simulator",
            "serve",
            "--port",
            str(port),
            "--clubs",
            "2",
            "--now",
            "2026-11-28T06:00:00Z",
            "--seed",
            "9",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                clubs = httpx.get(f"http://127.0.0.1:{port}/_simulator/clubs").json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert [c["id"] for c in clubs] == [1001, 1002]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cache_days_reaches_the_config_and_must_be_positive(capsys):
    assert config_from_args(build_parser().parse_args(["serve"])).cache_days == 4096
    args = build_parser().parse_args(["serve", "--cache-days", "20000"])
    assert config_from_args(args).cache_days == 20000
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--cache-days", "0"])
    assert "--cache-days: must be at least 1" in capsys.readouterr().err


def test_now_without_an_offset_is_refused():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--now", "2026-11-28T06:00:00"])


def test_help_lists_every_variant_with_its_values(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for name, values in VARIANTS.items():
        assert f"{name}: {' | '.join(values)}" in text


def test_variants_given_on_the_command_line_reach_the_config():
    args = build_parser().parse_args(
        ["serve", "--variant", "window_end=exclusive", "--variant", "auth=user_token"]
    )
    config = config_from_args(args)
    assert config.variant("window_end") == "exclusive"
    assert config.variant("auth") == "user_token"
    assert config.variant("exports") == "present"
    assert config_from_args(build_parser().parse_args(["serve"])).variant("window_end") == (
        "bucket_at_to"
    )


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("window_edge=exclusive", "unknown variant 'window_edge'; valid variants: window_end="),
        ("window_end=inclusive", "valid values: bucket_at_to, exclusive"),
        ("window_end", "--variant needs NAME=VALUE"),
    ],
)
def test_a_bad_variant_is_a_usage_error_naming_the_valid_choices(capsys, argument, message):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", "--variant", argument])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
