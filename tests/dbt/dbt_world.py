"""A synthetic Placewise world loaded into the raw tables, and a dbt runner for the tests.

The world follows the raw-table contract of ``placewise.warehouse.schema``: three clubs in
different timezones, 40 club-local days, per-club ``sendings_stats`` slices for every
aggregation, the tenants export (``total_*`` and per-club ``none`` series) whose values are the
sums over the clubs, 1d timeseries slices, the records reports, and ``loaded_partitions``
pointing at the slice that owns each day. Every figure is computed from one list of sendings
and their daily events, so the consistency rules of the API hold exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from placewise.local.dbt_profile import dbt_profile_env
from placewise.warehouse.schema import migrate

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"
DBT_BIN = Path(sys.executable).with_name("dbt")

CLUBS = {1001: "Europe/Oslo", 1002: "America/New_York", 1003: "Asia/Tokyo"}
EVENT_TYPES = (
    "new",
    "transmitted",
    "transiently_failed",
    "delivered",
    "opened",
    "opened_event",
    "failed",
    "delivery_errored",
)
CHANNELS = ("sms", "email", "push")
SERVICE_TYPES = ("campaign", "automation", "transactional", "rewards_notifications", "system")
CLUB_AGGREGATIONS = {
    "none": None,
    "service_type": "service_type",
    "campaign_id": "campaign_id",
    "channel": "channel",
    "reporting_id": "reporting_id",
}
DAYS = 40
TENANTS_SCOPE = "clubs:" + "_".join(str(club) for club in CLUBS)

RAW_COLUMNS = {
    "statistics": (
        "_slice_id, _scope, _loaded_at, _response_sha256, _row_no, loyalty_club_id, aggregation, "
        "window_start_local, window_end_local, stat_date, timezone, label, value"
    ),
    "timeseries": (
        "_slice_id, _scope, _loaded_at, _response_sha256, _row_no, loyalty_club_id, aggregation, "
        "interval, bucket_local, bucket_start, bucket_date, timezone, label, value"
    ),
    "records": (
        "_slice_id, _scope, _loaded_at, _response_sha256, _row_no, loyalty_club_id, aggregation, "
        "record_key, record"
    ),
}


@dataclass
class Sending:
    """One synthetic sending and its events per club-local day."""

    id: int
    club: int
    channel: str
    service_type: str
    campaign_id: int | None
    reporting_id: int | None
    first_day: dt.date
    daily: dict[dt.date, dict[str, int]] = field(default_factory=dict)
    closed: bool = True


@dataclass
class World:
    """The synthetic world and the dates the tests refer to."""

    first_day: dt.date
    last_day: dt.date
    sendings: list[Sending]

    def days(self) -> list[dt.date]:
        return [self.first_day + dt.timedelta(days=i) for i in range(DAYS)]

    def settled_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=10)

    def unsettled_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=1)


def build_world(seed: int = 7) -> World:
    """Sendings with events spread over a few days after their start; a few still open."""
    rng = random.Random(seed)
    last_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=DAYS - 1)
    sendings: list[Sending] = []
    next_id = 1
    for club in CLUBS:
        for i in range(30):
            start = first_day + dt.timedelta(days=rng.randrange(DAYS))
            span = rng.randint(1, 4)
            sending = Sending(
                id=next_id,
                club=club,
                channel=rng.choice(CHANNELS),
                service_type=rng.choice(SERVICE_TYPES),
                campaign_id=rng.choice([None, club * 10 + 1, club * 10 + 2]),
                reporting_id=None if i % 7 == 0 else club * 100 + i // 2,
                first_day=start,
            )
            next_id += 1
            for offset in range(span):
                day = start + dt.timedelta(days=offset)
                if day > last_day:
                    sending.closed = False
                    break
                sending.daily[day] = {
                    event: rng.randint(0, 40) if rng.random() > 0.2 else 0 for event in EVENT_TYPES
                }
            if start + dt.timedelta(days=span) > last_day:
                sending.closed = False
            sendings.append(sending)
    return World(first_day=first_day, last_day=last_day, sendings=sendings)


def club_stats(world: World, club: int, day: dt.date, aggregation: str) -> dict[str, int]:
    """The API's statistics series of one club-local day: label json -> value (non-zero only)."""
    key = CLUB_AGGREGATIONS[aggregation]
    series: dict[str, int] = defaultdict(int)
    for sending in world.sendings:
        if sending.club != club or day not in sending.daily:
            continue
        for event, value in sending.daily[day].items():
            label = {} if key is None else {key: getattr(sending, key)}
            label["event_type"] = event
            series[json.dumps(label, sort_keys=True)] += value
    return {label: value for label, value in series.items() if value}


class Loader:
    """Writes slices the way the pipeline's loader does (one transaction per slice)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def _slice(
        self,
        scope: str,
        club_ids: list[int],
        report: str,
        result_type: str,
        aggregation: str,
        interval: str | None,
        day: dt.date,
        rows: int,
        server_date: dt.datetime,
    ) -> int:
        slice_id = self.conn.execute(
            "insert into placewise_ops.slices (slice_key, scope, club_ids, report, result_type,"
            " aggregation, interval, window_start, window_end, endpoint, request_body, rows,"
            " tokens_spent, attempts, requested_at, server_date, loaded_at, status)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, now(), %s, now(),"
            " 'loaded') returning slice_id",
            (
                f"{report}/{scope}/{aggregation}/{day}",
                scope,
                club_ids,
                report,
                result_type,
                aggregation,
                interval,
                dt.datetime.combine(day, dt.time()),
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time()),
                "/v1/reporting/query/export",
                json.dumps({"report": report, "aggregate_by": aggregation}),
                rows,
                2,
                server_date,
            ),
        ).fetchone()[0]
        return slice_id

    def _own(
        self,
        scope: str,
        club: int | None,
        report: str,
        aggregation: str,
        interval: str,
        day: dt.date,
        slice_id: int,
        date_column: str,
        table: str,
    ) -> None:
        previous = self.conn.execute(
            "select slice_id from placewise_ops.loaded_partitions where scope = %s and report = %s"
            " and aggregation = %s and interval = %s and partition_date = %s",
            (scope, report, aggregation, interval, day),
        ).fetchone()
        if previous:
            self.conn.execute(
                f"delete from placewise_raw.{table} where _slice_id = %s and {date_column} = %s",
                (previous[0], day),
            )
            self.conn.execute(
                "update placewise_ops.slices set status = 'superseded' where slice_id = %s",
                (previous[0],),
            )
        self.conn.execute(
            "insert into placewise_ops.loaded_partitions (scope, loyalty_club_id, report,"
            " aggregation, interval, partition_date, slice_id, loaded_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, now())"
            " on conflict (scope, report, aggregation, interval, partition_date)"
            " do update set slice_id = excluded.slice_id, loaded_at = excluded.loaded_at",
            (scope, club, report, aggregation, interval, day, slice_id),
        )

    def load_statistics(
        self,
        scope: str,
        club_ids: list[int],
        aggregation: str,
        day: dt.date,
        series: list[tuple[int | None, str | None, dict, int]],
        server_date: dt.datetime,
    ) -> int:
        """series: (loyalty_club_id, timezone, label, value)."""
        with self.conn.transaction():
            slice_id = self._slice(
                scope,
                club_ids,
                "sendings_stats",
                "statistics",
                aggregation,
                None,
                day,
                len(series),
                server_date,
            )
            self._own(
                scope,
                club_ids[0] if scope.startswith("club:") else None,
                "sendings_stats",
                aggregation,
                "statistics",
                day,
                slice_id,
                "stat_date",
                "sendings_stats",
            )
            start = dt.datetime.combine(day, dt.time())
            rows = [
                (
                    slice_id,
                    scope,
                    dt.datetime.now(dt.UTC),
                    "sha",
                    n,
                    club,
                    aggregation,
                    start,
                    start + dt.timedelta(days=1),
                    day,
                    tz,
                    json.dumps(label),
                    value,
                )
                for n, (club, tz, label, value) in enumerate(series)
            ]
            self._copy("sendings_stats", "statistics", rows)
        return slice_id

    def load_timeseries(
        self,
        report: str,
        club: int,
        aggregation: str,
        day: dt.date,
        series: list[tuple[dict, int]],
        server_date: dt.datetime,
    ) -> int:
        scope = f"club:{club}"
        tz = CLUBS[club]
        with self.conn.transaction():
            slice_id = self._slice(
                scope,
                [club],
                report,
                "timeseries",
                aggregation,
                "1d",
                day,
                len(series),
                server_date,
            )
            self._own(scope, club, report, aggregation, "1d", day, slice_id, "bucket_date", report)
            local = dt.datetime.combine(day, dt.time())
            instant = local.replace(tzinfo=ZoneInfo(tz))
            rows = [
                (
                    slice_id,
                    scope,
                    dt.datetime.now(dt.UTC),
                    "sha",
                    n,
                    club,
                    aggregation,
                    "1d",
                    local,
                    instant,
                    day,
                    tz,
                    json.dumps(label),
                    value,
                )
                for n, (label, value) in enumerate(series)
            ]
            self._copy(report, "timeseries", rows)
        return slice_id

    def load_records(
        self, report: str, club: int, records: list[tuple[str, dict]], server_date: dt.datetime
    ) -> int:
        scope = f"club:{club}"
        today = dt.datetime.now(dt.UTC).date()
        with self.conn.transaction():
            slice_id = self._slice(
                scope, [club], report, "records", "none", None, today, len(records), server_date
            )
            self.conn.execute(f"delete from placewise_raw.{report} where _scope = %s", (scope,))
            rows = [
                (
                    slice_id,
                    scope,
                    dt.datetime.now(dt.UTC),
                    "sha",
                    n,
                    club,
                    "none",
                    key,
                    json.dumps(record),
                )
                for n, (key, record) in enumerate(records)
            ]
            self._copy(report, "records", rows)
        return slice_id

    def _copy(self, table: str, result_type: str, rows: list[tuple]) -> None:
        with self.conn.cursor().copy(
            f"copy placewise_raw.{table} ({RAW_COLUMNS[result_type]}) from stdin"
        ) as copy:
            for row in rows:
                copy.write_row(row)


def load_club_day(
    loader: Loader, world: World, club: int, day: dt.date, server_date: dt.datetime
) -> None:
    """All five per-club sendings_stats slices of one club-local day."""
    for aggregation in CLUB_AGGREGATIONS:
        series = [
            (club, CLUBS[club], json.loads(label), value)
            for label, value in club_stats(world, club, day, aggregation).items()
        ]
        loader.load_statistics(f"club:{club}", [club], aggregation, day, series, server_date)


def load_tenants_day(loader: Loader, world: World, day: dt.date, server_date: dt.datetime) -> None:
    """The tenants export of one day: per-club 'none' series and the total_* sums."""
    clubs = list(CLUBS)
    none_series = []
    for club in clubs:
        for label, value in club_stats(world, club, day, "none").items():
            none_series.append(
                (club, CLUBS[club], {"loyalty_club_id": club, **json.loads(label)}, value)
            )
    loader.load_statistics(TENANTS_SCOPE, clubs, "none", day, none_series, server_date)
    for aggregation in ("service_type", "campaign_id", "channel", "reporting_id"):
        totals: dict[str, int] = defaultdict(int)
        for club in clubs:
            for label, value in club_stats(world, club, day, aggregation).items():
                totals[label] += value
        series = [(None, None, json.loads(label), value) for label, value in totals.items()]
        loader.load_statistics(
            TENANTS_SCOPE, clubs, f"total_{aggregation}", day, series, server_date
        )


def load_timeseries_day(
    loader: Loader, world: World, club: int, day: dt.date, server_date: dt.datetime
) -> None:
    rng = random.Random(f"{club}-{day}")
    events: dict[str, int] = defaultdict(int)
    by_channel: dict[tuple[str, str], int] = defaultdict(int)
    for sending in world.sendings:
        if sending.club == club and day in sending.daily:
            for event, value in sending.daily[day].items():
                events[event] += value
                by_channel[(sending.channel, event)] += value
    loader.load_timeseries(
        "sendings_events_history",
        club,
        "none",
        day,
        [({"event_type": e}, v) for e, v in events.items() if v],
        server_date,
    )
    loader.load_timeseries(
        "sendings_events_history",
        club,
        "channel",
        day,
        [({"channel": c, "event_type": e}, v) for (c, e), v in by_channel.items() if v],
        server_date,
    )
    visits = {"sending": rng.randint(1, 50), "offer": rng.randint(1, 50)}
    loader.load_timeseries(
        "links_visits_history", club, "none", day, [({}, sum(visits.values()))], server_date
    )
    loader.load_timeseries(
        "links_visits_history",
        club,
        "source_type",
        day,
        [({"source_type": k}, v) for k, v in visits.items()],
        server_date,
    )
    balance_in, balance_out = rng.randint(0, 20), rng.randint(0, 10)
    loader.load_timeseries(
        "member_balance",
        club,
        "none",
        day,
        [({"type": "in"}, balance_in), ({"type": "out"}, balance_out)],
        server_date,
    )
    loader.load_timeseries(
        "members_count_history",
        club,
        "none",
        day,
        [({}, 1000 + (day - world.first_day).days * 3)],
        server_date,
    )
    loader.load_timeseries(
        "sendings_recipients_statistics",
        club,
        "gender",
        day,
        [({"gender": "female"}, rng.randint(1, 90)), ({"gender": None}, rng.randint(1, 9))],
        server_date,
    )


def _utc_text(day: dt.date, club: int) -> str:
    """Club-local midnight of ``day`` as the API's UTC text (history_ranges style)."""
    local = dt.datetime.combine(day, dt.time(), ZoneInfo(CLUBS[club]))
    return local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def sending_records(world: World, club: int) -> list[tuple[str, dict]]:
    records = []
    for sending in world.sendings:
        if sending.club != club:
            continue
        totals = {event: sum(day[event] for day in sending.daily.values()) for event in EVENT_TYPES}
        days = sorted(sending.daily)
        history_from = _utc_text(days[0], club)
        history_to = _utc_text(days[-1] + dt.timedelta(days=1), club) if sending.closed else None
        record = {
            "id": sending.id,
            "loyalty_club_id": club,
            "language": "nb",
            "channel": sending.channel,
            "service_type": sending.service_type,
            "reporting_id": sending.reporting_id,
            "source_id": None if sending.reporting_id is None else str(sending.reporting_id),
            "source_app": "messages_api",
            "source_type": "campaign" if sending.campaign_id else "other",
            "audience_id": None,
            "campaign_id": sending.campaign_id,
            "dispatches_count": totals["new"],
            "members_count": totals["new"],
            **{f"{event}_count": totals[event] for event in EVENT_TYPES},
            "created_at": f"{sending.first_day.isoformat()}T06:00:00.000000Z",
            "history_ranges": {"1d": {"from": history_from, "to": history_to}},
        }
        records.append((str(sending.id), record))
    return records


def load_world(conn: psycopg.Connection, world: World) -> None:
    """Load every report of the synthetic world; all slices fetched 'now'."""
    migrate(conn)
    conn.execute(
        "create table if not exists placewise_ops.clubs (loyalty_club_id bigint primary key,"
        " name text, timezone text, enabled boolean, updated_at timestamptz)"
    )
    for club in CLUBS:
        conn.execute(
            "insert into placewise_ops.clubs (loyalty_club_id, name, timezone, enabled,"
            " updated_at) values (%s, %s, %s, true, now())",
            (club, f"Club {club}", None if club == 1003 else CLUBS[club]),
        )
    conn.commit()
    loader = Loader(conn)
    now = dt.datetime.now(dt.UTC)
    for day in world.days():
        for club in CLUBS:
            load_club_day(loader, world, club, day, now)
            load_timeseries_day(loader, world, club, day, now)
        load_tenants_day(loader, world, day, now)
    for club in CLUBS:
        loader.load_records("sendings", club, sending_records(world, club), now)
        loader.load_records(
            "sendings_links_stats",
            club,
            [
                (
                    f"{club}:{s}",
                    {
                        "loyalty_club_id": club,
                        "source_id": s,
                        "visits_count": 10,
                        "unique_visits_count": 7,
                    },
                )
                for s in ("campaign", str(club * 100))
            ],
            now,
        )
        loader.load_records(
            "members_grouped_count",
            club,
            [
                (
                    f"{club}:gender:{g}",
                    {
                        "community_id": club,
                        "grouping_type": "gender",
                        "grouping_value": g,
                        "members_count": 100,
                        "updated_at": now.isoformat(),
                    },
                )
                for g in ("female", "male", None)
            ],
            now,
        )


@dataclass
class DbtWarehouse:
    """A loaded warehouse database and a way to run dbt against it."""

    url: str
    world: World
    target_path: Path
    env: dict[str, str]

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(DBT_BIN),
                *args,
                "--project-dir",
                str(DBT_PROJECT),
                "--profiles-dir",
                str(DBT_PROJECT),
                "--target-path",
                str(self.target_path),
            ],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr}")
        return result


def dbt_env(url: str, log_path: Path) -> dict[str, str]:
    env = dbt_profile_env(url, log_path)
    env["DBT_PARTIAL_PARSE"] = "false"
    return env
