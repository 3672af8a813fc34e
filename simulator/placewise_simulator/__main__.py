"""Command line: ``python -m placewise_simulator serve [options]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

from placewise_simulator.config import SimulatorConfig
from placewise_simulator.variants import VariantError, help_text, parse_assignment


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a UTC offset, e.g. 2026-11-28T06:00:00Z")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _variant(text: str) -> tuple[str, str]:
    try:
        return parse_assignment(text)
    except VariantError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Option defaults in the help, and the variant list kept as written."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests can check the documented options)."""
    parser = argparse.ArgumentParser(
        prog="python -m placewise_simulator",
        description="Local simulator of the Placewise Reporting API.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the HTTP server",
        description="Serve the simulated Reporting API over HTTP.",
        epilog=help_text(),
        formatter_class=_HelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on")
    serve.add_argument(
        "--seed",
        type=int,
        default=42,
        help="world seed: the same seed and --now give byte-identical responses",
    )
    serve.add_argument(
        "--clubs", type=int, default=3, help="number of clubs (customers), ids 1001, 1002, ..."
    )
    serve.add_argument(
        "--history-days", type=int, default=60, help="days of history before today that hold data"
    )
    serve.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="freeze the clock at this ISO instant (default: real time)",
    )
    serve.add_argument(
        "--token",
        default="dev-token",
        help="accepted token, in X-Client-Authorization (or as a Bearer token under "
        "--variant auth=user_token); all clubs and reports",
    )
    serve.add_argument(
        "--organization",
        default="placewise-dev",
        help="the organization of the tokens; names the bucket of cross-club calls "
        "(Organization:<organization>:Reporting)",
    )
    serve.add_argument(
        "--rate-capacity",
        type=float,
        default=60.0,
        help="token bucket capacity per (owner, Reporting) bucket",
    )
    serve.add_argument(
        "--rate-refill",
        type=float,
        default=6.0,
        help="tokens added back per second to every bucket",
    )
    serve.add_argument(
        "--cache-days",
        type=_at_least_one,
        default=SimulatorConfig.cache_days,
        help="generated (club, day) entries kept in memory (default 4096); a world of more "
        "clubs x days than this regenerates days on every cumulative report",
    )
    serve.add_argument(
        "--fault-rate",
        type=_fraction,
        default=0.0,
        help="share of API requests that fail (500, 503, 429 storm, reset, "
        "truncated body, slow first byte)",
    )
    serve.add_argument(
        "--fault-seed", type=int, default=0, help="seed of the deterministic fault sequence"
    )
    serve.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="choose one reading of the docs where they allow several (repeatable; see below)",
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn log level")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Settings from parsed ``serve`` arguments."""
    return SimulatorConfig(
        seed=args.seed,
        clubs=args.clubs,
        history_days=args.history_days,
        now=args.now,
        token=args.token,
        organization=args.organization,
        rate_capacity=args.rate_capacity,
        rate_refill=args.rate_refill,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        cache_days=args.cache_days,
        variants=dict(args.variant),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m placewise_simulator`` and ``placewise-simulator``."""
    args = build_parser().parse_args(argv)
    import uvicorn

    from placewise_simulator.app import create_app

    config = config_from_args(args)
    print(
        f"placewise simulator: http://{args.host}:{args.port} seed={config.seed} "
        f"clubs={config.clubs} history_days={config.history_days} now={args.now or 'real time'} "
        f"variants={','.join(f'{k}={v}' for k, v in config.variants.items())}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        http="httptools",
        lifespan="on",
        date_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
