"""One probe per assumption: the few requests that tell how this API reads an open point.

A probe names what it checks, the most tokens it can spend (``max_cost``, known before any
request: the price of each request it may send), and a function that sends those requests
through the ``ProbeSession`` and returns a ``Finding``. Probes that need the same answer send
the same request, which the session answers once; the per-report query of ``sendings_stats``,
for instance, is the request the ``statistics_shape`` probe already sent.

The windows are one club-local day a couple of days before the API's own clock (its ``Date``
header; this machine's clock when it has none), so every answer is small and inside every
retention.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from placewise.api import contract
from placewise.api.catalog import CATALOG
from placewise.api.contract import Endpoint
from placewise.api.customer import CustomerSelector
from placewise.api.variants import VARIANTS_BY_NAME
from placewise.doctor import answers
from placewise.doctor.findings import Finding, Verdict
from placewise.doctor.session import Exchange, OverBudgetError, ProbeSession
from placewise.registry import Club

#: The price assumed for a report neither the catalog nor the API's Metadata has priced yet
#: (the dearest report of the catalog), so a plan never under-counts.
UNPRICED_REPORT_COST = max(spec.token_cost for spec in CATALOG.values())
#: A report named only in the docs' menu: its Metadata tells whether the API serves those.
MENU_ONLY_PROBE_REPORT = "offers"
#: Days before the API's clock of the one-day window the probes ask for.
PROBE_DAY_OFFSET = 2
#: Reports the variant probes use when no configured report has the result type they need.
FALLBACK_REPORT = {"statistics": "sendings_stats", "timeseries": "member_balance",
                   "records": "sendings"}  # fmt: skip
#: Most page requests the cursor probe sends: page 1, then one per candidate key.
CURSOR_PROBE_REQUESTS = 1 + len(contract.CURSOR_KEYS)


class ProbeAbort(Exception):
    """Nothing more can be learnt (no answer, no accepted credential); the message says why."""


@dataclass
class DoctorContext:
    """What the probes share: the session, the clubs and reports, and what was found so far."""

    session: ProbeSession
    clubs: list[Club]
    reports: list[str]
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: True when the pipeline is set to extract through the exports (PLACEWISE_EXTRACT_MODE).
    use_export: bool = False
    #: report -> the Metadata body the API returned for it.
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: variant -> value found.
    found: dict[str, str] = field(default_factory=dict)
    #: club -> timezone, as the API's cross-club answers named them.
    zones: dict[int, str] = field(default_factory=dict)
    #: Named answers later probes read (``cross``, ``tenants``).
    answers: dict[str, Exchange] = field(default_factory=dict)
    as_of: datetime | None = None

    # -- choices ---------------------------------------------------------------------------

    @property
    def club_ids(self) -> list[int]:
        return [c.id for c in self.clubs]

    def first_club(self) -> CustomerSelector:
        if not self.clubs:
            raise ProbeAbort("the club registry has no enabled club to ask about")
        return CustomerSelector.club(self.clubs[0].id)

    def result_type(self, report: str) -> str | None:
        meta = self.metadata.get(report)
        if meta and isinstance(meta.get("result_type"), str):
            return str(meta["result_type"])
        spec = CATALOG.get(report)
        return spec.result_type if spec else None

    def report_of(self, result_type: str) -> str:
        """The cheapest configured report of ``result_type`` (else the catalog's usual one)."""
        candidates = [r for r in self.reports if self.result_type(r) == result_type]
        if not candidates:
            return FALLBACK_REPORT[result_type]
        return min(candidates, key=lambda r: (self.price(r), self.reports.index(r)))

    def price(self, report: str) -> int:
        """Tokens a query of ``report`` costs: the API's Metadata, else the catalog."""
        meta = self.metadata.get(report) or {}
        cost = meta.get("token_cost")
        if isinstance(cost, int) and not isinstance(cost, bool) and cost >= 0:
            return cost
        spec = CATALOG.get(report)
        return spec.token_cost if spec else UNPRICED_REPORT_COST

    def intervals(self, report: str) -> tuple[str, ...]:
        meta = self.metadata.get(report) or {}
        if isinstance(meta.get("intervals"), list) and meta["intervals"]:
            return tuple(str(i) for i in meta["intervals"])
        spec = CATALOG.get(report)
        return spec.intervals if spec else ()

    def probe_window(self) -> tuple[datetime, datetime]:
        """One wall-clock day, ``PROBE_DAY_OFFSET`` days before the API's clock."""
        clock = self.as_of or self.now()
        day = clock.date() - timedelta(days=PROBE_DAY_OFFSET)
        start = datetime(day.year, day.month, day.day)
        return start, start + timedelta(days=1)

    # -- requests ----------------------------------------------------------------------------

    def query_body(self, report: str, **extra: Any) -> dict[str, Any]:
        """The small probe query of ``report``: one day, or one record."""
        kind = self.result_type(report)
        if kind == "records":
            return contract.build_query_body(report, limit=1, **extra)
        start, end = self.probe_window()
        interval = None
        if kind == "timeseries":
            offered = self.intervals(report)
            interval = "1d" if "1d" in offered or not offered else offered[0]
        return contract.build_query_body(report, interval=interval, from_=start, to=end, **extra)

    def query(
        self, report: str, customer: CustomerSelector, endpoint: Endpoint = Endpoint.QUERY
    ) -> Exchange:
        cost = self.price(report)
        if endpoint in contract.EXPORT_ENDPOINTS:
            cost *= contract.EXPORT_COST_MULTIPLIER
        return self.session.send(endpoint, customer, self.query_body(report), cost=cost)

    def metadata_of(self, report: str, *, scheme: str | None = None) -> Exchange:
        exchange = self.session.send(
            Endpoint.METADATA,
            self.first_club(),
            contract.build_metadata_body(report),
            cost=contract.METADATA_COST,
            scheme=scheme,
        )
        if exchange.ok and isinstance(exchange.data, dict):
            self.metadata[report] = exchange.data
        if self.as_of is None and exchange.server_date is not None:
            self.as_of = exchange.server_date
        return exchange


@dataclass(frozen=True)
class Probe:
    """One assumption to check: its row title, its variant (if any) and its token bound."""

    name: str
    assumption: str
    #: The most tokens the probe can spend, given what is known so far (prices from the
    #: API's Metadata once read; requests already answered cost nothing).
    max_cost: Callable[[DoctorContext], int]
    check: Callable[[DoctorContext], Finding]
    variant: str | None = None
    #: True when the run cannot go on without it (transport and auth).
    essential: bool = False


def _variant_row(
    ctx: DoctorContext, variant: str, api_does: str, value: str | None, **extra: Any
) -> Finding:
    spec = VARIANTS_BY_NAME[variant]
    if value is not None:
        ctx.found[variant] = value
    verdict = (
        Verdict.UNKNOWN
        if value is None
        else (Verdict.HOLDS if value == spec.assumed else Verdict.DIFFERS)
    )
    return Finding(
        assumption=variant,
        we_assume=extra.pop("we_assume", spec.assumed),
        api_does=api_does,
        verdict=verdict,
        variant=variant,
        value=value,
        **extra,
    )


# --- transport and auth --------------------------------------------------------------------------


def check_auth(ctx: DoctorContext) -> Finding:
    """Metadata with each credential scheme in turn: the first one not answered 401 is it."""
    report = ctx.reports[0] if ctx.reports else FALLBACK_REPORT["statistics"]
    schemes = list(contract.AUTH_SCHEMES)
    if ctx.session.api.auth_scheme in schemes:
        schemes.remove(ctx.session.api.auth_scheme)
        schemes.insert(0, ctx.session.api.auth_scheme)
    tried = []
    for scheme in schemes:
        exchange = ctx.metadata_of(report, scheme=scheme)
        if exchange.status is None:
            raise ProbeAbort(
                f"no answer from {ctx.session.api.base_url}: {exchange.transport_error}; "
                "check PLACEWISE_API_URL and the network path to the API"
            )
        if exchange.status != 401:
            ctx.session.scheme = scheme
            api_does = f"accepts {scheme} ({_scheme_header(scheme)})"
            if tried:
                api_does = f"refuses {', '.join(tried)} (401); {api_does}"
            return _variant_row(
                ctx,
                "auth",
                api_does,
                scheme,
                we_assume=f"{contract.AUTH_CLIENT_TOKEN} ({_scheme_header('client_token')})",
            )
        tried.append(scheme)
    raise ProbeAbort(
        "the API refuses PLACEWISE_API_TOKEN under every scheme (401 to X-Client-Authorization "
        "and to Authorization: Bearer): check the token, or set PLACEWISE_AUTH_HEADER and "
        "PLACEWISE_AUTH_FORMAT to the scheme Placewise issued it for"
    )


def _scheme_header(scheme: str) -> str:
    header, template = contract.AUTH_SCHEMES[scheme]
    return f"{header}: {template.replace('{token}', '<token>')}"


def check_required_headers(ctx: DoctorContext) -> Finding:
    """A request without ``X-Product-Name``: the docs say 470 with an ``{"error"}`` body."""
    report = ctx.reports[0] if ctx.reports else FALLBACK_REPORT["statistics"]
    exchange = ctx.session.send(
        Endpoint.METADATA,
        ctx.first_club(),
        contract.build_metadata_body(report),
        cost=contract.METADATA_COST,
        omit=(contract.HEADER_PRODUCT_NAME,),
    )
    ctx.answers["missing_header"] = exchange
    holds = exchange.status == contract.STATUS_MISSING_HEADER
    return Finding(
        "required headers",
        f"X-User-Agent, X-Product-Name, X-Customer required: a missing one is "
        f"{contract.STATUS_MISSING_HEADER}",
        f"without X-Product-Name: {exchange.describe()}",
        Verdict.HOLDS if holds else Verdict.DIFFERS,
    )


def check_error_bodies(ctx: DoctorContext) -> Finding:
    """Every failed answer seen so far carries ``{"error": "<text>"}``."""
    failed = [e for e in ctx.session.exchanges if e.status is not None and not e.ok]
    if not failed:
        return Finding(
            "error bodies",
            '{"error": "<text>"}',
            "no failed answer to look at",
            Verdict.UNKNOWN,
        )
    odd = [e for e in failed if not e.has_error_body]
    if odd:
        return Finding(
            "error bodies",
            '{"error": "<text>"}',
            f"HTTP {odd[0].status} body {odd[0].text[:80]!r} (the client logs the body start)",
            Verdict.DIFFERS,
        )
    statuses = ", ".join(sorted({str(e.status) for e in failed}))
    return Finding(
        "error bodies", '{"error": "<text>"}', f'{{"error": ...}} on HTTP {statuses}', Verdict.HOLDS
    )


# --- metadata ------------------------------------------------------------------------------------


def check_menu_only_reports(ctx: DoctorContext) -> Finding:
    exchange = ctx.metadata_of(MENU_ONLY_PROBE_REPORT)
    if exchange.ok or exchange.status == 403:
        value, does = "served", f"Metadata of {MENU_ONLY_PROBE_REPORT}: {exchange.describe()}"
    elif exchange.status in (404, 422):
        value, does = "absent", f"Metadata of {MENU_ONLY_PROBE_REPORT}: {exchange.describe()}"
    else:
        value, does = None, f"Metadata of {MENU_ONLY_PROBE_REPORT}: {exchange.describe()}"
    return _variant_row(
        ctx, "menu_only_reports", does, value, we_assume="menu-only reports are unknown (422)"
    )


def catalog_differences(report: str, meta: dict[str, Any]) -> list[str]:
    """How the API's Metadata of ``report`` differs from the static catalog (empty: agrees)."""
    spec = CATALOG.get(report)
    if spec is None:
        return ["not in the static catalog"]
    out: list[str] = []
    if meta.get("result_type") not in (None, spec.result_type):
        out.append(f"result_type {meta['result_type']} (catalog {spec.result_type})")
    if meta.get("token_cost") not in (None, spec.token_cost):
        out.append(f"cost {meta['token_cost']} (catalog {spec.token_cost})")
    if spec.result_type == "timeseries" and isinstance(meta.get("intervals"), list):
        added = [i for i in meta["intervals"] if i not in spec.intervals]
        lacking = [i for i in spec.intervals if i not in meta["intervals"]]
        out += [f"+interval {i}" for i in added] + [f"-interval {i}" for i in lacking]
    aggregations = meta.get("aggregations")
    if isinstance(aggregations, list):
        names = [a if isinstance(a, str) else (a or {}).get("name") for a in aggregations]
        out += [f"+aggregation {a}" for a in names if a not in spec.aggregations]
        out += [f"-aggregation {a}" for a in spec.aggregations if a not in names]
    fields = meta.get("fields")
    if isinstance(fields, list):
        names = [f.get("name") for f in fields if isinstance(f, dict)]
        out += [f"+field {f}" for f in names if f not in spec.fields]
        out += [f"-field {f}" for f in spec.fields if f not in names]
    return out


def metadata_probe(report: str) -> Probe:
    def check(ctx: DoctorContext) -> Finding:
        exchange = ctx.metadata_of(report)
        title = f"Metadata {report}"
        known = report in CATALOG
        assume = "as the static catalog" if known else "not in the static catalog"
        if not exchange.ok:
            return Finding(
                title,
                assume,
                exchange.describe(),
                Verdict.DIFFERS,
                blocker=_report_blocker(report, exchange),
            )
        differences = catalog_differences(report, ctx.metadata[report])
        if not known:
            meta = ctx.metadata[report]
            return Finding(
                title,
                assume,
                f"{meta.get('result_type')}, cost {meta.get('token_cost')}, "
                f"{len(meta.get('aggregations') or [])} aggregations: loaded generically",
                Verdict.DIFFERS,
            )
        if not differences:
            return Finding(title, assume, "as the catalog", Verdict.HOLDS)
        return Finding(
            title,
            assume,
            "; ".join(differences) + " (the live catalog takes the API's)",
            Verdict.DIFFERS,
        )

    return Probe(
        f"metadata:{report}", f"Metadata {report}", lambda ctx: contract.METADATA_COST, check
    )


def _report_blocker(report: str, exchange: Exchange) -> str | None:
    if exchange.status == 403:
        return (
            f"the token may not read {report} ({exchange.error_message}): ask Placewise for "
            f"its permit, or remove {report} from the club registry's reports"
        )
    if exchange.status in (404, 422):
        return (
            f"the API does not know report {report} ({exchange.error_message}): remove it from "
            "the club registry's reports"
        )
    return None


# --- result shapes -------------------------------------------------------------------------------


def check_statistics_shape(ctx: DoctorContext) -> Finding:
    report = ctx.report_of("statistics")
    exchange = ctx.query(report, ctx.first_club())
    does = f"{report}: {exchange.describe()}"
    if not exchange.ok:
        return _variant_row(ctx, "statistics_shape", does, None)
    shape = answers.shape_of(exchange.data)
    value = {"statistics": "totals", "statistics+buckets": "buckets"}.get(shape)
    if value is None and shape == "timeseries":
        value = "buckets"
    return _variant_row(
        ctx,
        "statistics_shape",
        f"{report} answers {'totals (value per series)' if value == 'totals' else shape}",
        value,
        we_assume="totals over [from, to)",
    )


def check_window_end(ctx: DoctorContext) -> Finding:
    report = ctx.report_of("timeseries")
    exchange = ctx.query(report, ctx.first_club())
    if not exchange.ok or answers.shape_of(exchange.data) != "timeseries":
        return _variant_row(ctx, "window_end", f"{report}: {exchange.describe()}", None)
    _, end = ctx.probe_window()
    buckets = [answers.wall_clock(b) for b in exchange.data.get(contract.KEY_TIME_BUCKETS, [])]
    if not buckets:
        return _variant_row(
            ctx, "window_end", f"{report}: no bucket with data in the window: cannot tell", None
        )
    at_to = end in buckets
    value = "bucket_at_to" if at_to else "exclusive"
    shown = ", ".join(b.date().isoformat() for b in buckets if b is not None) or "none"
    return _variant_row(
        ctx,
        "window_end",
        f"{report} 1d over one day: buckets {shown}"
        + (" (one at `to`)" if at_to else " (none at `to`)"),
        value,
        we_assume="a bucket starting at `to` is answered",
    )


def check_cursor_key(ctx: DoctorContext) -> Finding:
    """Page 1 with ``limit`` 1, then the cursor under each candidate key until page 2 differs."""
    report = ctx.report_of("records")
    customer = ctx.first_club()
    first = ctx.query(report, customer)
    if not first.ok:
        return _variant_row(ctx, "cursor_key", f"{report}: {first.describe()}", None)
    cursor = answers.next_cursor(first.data)
    if cursor is None:
        return _variant_row(
            ctx, "cursor_key", f"{report} has one page only at limit 1: cannot tell", None
        )
    record = answers.first_record(first.data)
    tried = []
    for key in contract.CURSOR_KEYS:
        body = contract.build_query_body(report, page_info=cursor, limit=1, cursor_key=key)
        page = ctx.session.send(Endpoint.QUERY, customer, body, cost=ctx.price(report))
        tried.append(key)
        if not page.ok:
            continue
        if answers.first_record(page.data) != record:
            repeated = answers.next_cursor(page.data) == cursor
            if repeated:
                return _variant_row(
                    ctx,
                    "cursor_key",
                    f"page 2 under {key} differs but repeats the cursor of page 1",
                    None,
                    blocker=_cursor_blocker(ctx, "the cursor repeats, so paging would not end"),
                )
            return _variant_row(
                ctx,
                "cursor_key",
                f"page 2 differs with the cursor under {key}; the next cursor is new",
                key,
                we_assume=f"the cursor goes back as {contract.KEY_PAGE_INFO}",
            )
    return _variant_row(
        ctx,
        "cursor_key",
        f"page 1 again under every key tried ({', '.join(tried)})",
        None,
        blocker=_cursor_blocker(ctx, "no body key advances the records cursor"),
    )


def _cursor_blocker(ctx: DoctorContext, why: str) -> str | None:
    if ctx.use_export:
        return None  # records come from the export, which is not paged
    return (
        f"{why}, so records reports cannot be read in full through the query endpoint: set "
        "PLACEWISE_EXTRACT_MODE=export if the exports exist, or ask Placewise which body key "
        "carries pagination.next_page_info back"
    )


# --- several customers ---------------------------------------------------------------------------


def check_cross_customer(ctx: DoctorContext) -> Finding:
    if len(ctx.clubs) < 2:
        return _variant_row(
            ctx, "cross_customer_query", "needs two enabled clubs in the registry", None
        )
    report = ctx.report_of("statistics")
    exchange = ctx.query(report, CustomerSelector.clubs(ctx.club_ids[:40]))
    ctx.answers["cross"] = exchange
    if exchange.ok:
        ctx.zones.update(answers.series_zones(exchange.data))
        value = "allowed"
    elif exchange.status in (400, 403, 422):
        value = "refused"
    else:
        value = None
    return _variant_row(
        ctx,
        "cross_customer_query",
        f"{report} for {len(ctx.clubs[:40])} clubs on the query endpoint: {exchange.describe()}",
        value,
        we_assume="the query endpoint serves several customers",
    )


def check_export(ctx: DoctorContext) -> Finding:
    """One export of the statistics probe's request: it exists and has the query's shape."""
    report = ctx.report_of("statistics")
    exchange = ctx.query(report, ctx.first_club(), Endpoint.EXPORT)
    ctx.answers["export"] = exchange
    return _export_row(ctx, "export", exchange, ctx.query(report, ctx.first_club()))


def check_tenants_export(ctx: DoctorContext) -> Finding:
    if len(ctx.clubs) < 2:
        return Finding(
            "tenants export", "exists", "needs two enabled clubs in the registry", Verdict.UNKNOWN
        )
    report = ctx.report_of("statistics")
    exchange = ctx.query(report, CustomerSelector.clubs(ctx.club_ids[:40]), Endpoint.TENANTS_EXPORT)
    ctx.answers["tenants"] = exchange
    if exchange.ok:
        ctx.zones.update(answers.series_zones(exchange.data))
    cross = ctx.answers.get("cross")
    return _export_row(ctx, "tenants export", exchange, cross if cross and cross.ok else None)


def _export_row(
    ctx: DoctorContext, title: str, exchange: Exchange, query: Exchange | None
) -> Finding:
    assume = "exists, one streamed body of the query's shape, 5x cost"
    if exchange.status == 404:
        present: str | None = "absent"
        does = f"HTTP 404 {json.dumps(exchange.error_message)}"
    elif exchange.ok:
        present = "present"
        shape = answers.shape_of(exchange.data)
        does = f"answers {shape}, {exchange.tokens} tokens"
        if query is not None and query.ok and answers.shape_of(query.data) != shape:
            does += f" (the query answers {answers.shape_of(query.data)})"
    else:
        present, does = None, exchange.describe()
    if title == "export":
        if present is not None:
            ctx.found["exports"] = present
        blocker = None
        if present == "absent" and ctx.use_export:
            blocker = (
                "the export endpoints answer 404 but PLACEWISE_EXTRACT_MODE=export: set "
                "PLACEWISE_EXTRACT_MODE=query (the documented endpoint, paged)"
            )
        verdict = (
            Verdict.UNKNOWN
            if present is None
            else (Verdict.HOLDS if present == "present" else Verdict.DIFFERS)
        )
        return Finding(
            title, assume, does, verdict, variant="exports", value=present, blocker=blocker
        )
    if present is not None and ctx.found.get("exports") not in (None, present):
        does += f"; the export is {ctx.found['exports']}: the tenants export's answer is used"
        ctx.found["exports"] = present
    verdict = (
        Verdict.UNKNOWN
        if present is None
        else (Verdict.HOLDS if present == "present" else Verdict.DIFFERS)
    )
    return Finding(title, assume, does, verdict)


def _cross_answer(ctx: DoctorContext) -> Exchange | None:
    for name in ("cross", "tenants"):
        exchange = ctx.answers.get(name)
        if exchange is not None and exchange.ok:
            return exchange
    return None


def check_multi_tz_window(ctx: DoctorContext) -> Finding:
    """The cross-club answer's echo of an offset-less window: as sent, or turned into UTC."""
    answer = _cross_answer(ctx)
    if answer is None:
        return _variant_row(ctx, "multi_tz_window", "no cross-club answer to look at", None)
    if answer.data.get(contract.KEY_RANGE_TIMEZONE) != contract.RANGE_TIMEZONE_LOCAL:
        return _variant_row(
            ctx,
            "multi_tz_window",
            "every enabled club shares one timezone: cannot tell",
            None,
        )
    echoed = [answer.data.get(contract.KEY_FROM), answer.data.get(contract.KEY_TO)]
    if not all(isinstance(e, str) for e in echoed):
        return _variant_row(ctx, "multi_tz_window", "the answer does not echo from/to", None)
    start, _ = ctx.probe_window()
    utc = any(answers.has_offset(e) for e in echoed) or answers.wall_clock(echoed[0]) != start
    return _variant_row(
        ctx,
        "multi_tz_window",
        f"clubs in {len(set(ctx.zones.values())) or 'several'} zones, window sent without offset, "
        f"echoed {echoed[0]}..{echoed[1]}",
        "utc" if utc else "local_wall_clock",
        we_assume="each club's wall clock",
    )


def same_zone_pair(ctx: DoctorContext) -> tuple[int, int] | None:
    """Two enabled clubs in one timezone (as the API named it, else the registry's)."""
    zones = {c.id: c.timezone for c in ctx.clubs if c.timezone}
    zones.update({k: v for k, v in ctx.zones.items() if k in set(ctx.club_ids)})
    by_zone: dict[str, list[int]] = {}
    for club_id in ctx.club_ids:
        if club_id in zones:
            by_zone.setdefault(zones[club_id], []).append(club_id)
    pairs = [tuple(ids[:2]) for ids in by_zone.values() if len(ids) >= 2]
    return pairs[0] if pairs else None  # type: ignore[return-value]


def check_same_tz_merge(ctx: DoctorContext) -> Finding:
    pair = same_zone_pair(ctx)
    if pair is None:
        return _variant_row(
            ctx,
            "same_tz_merge",
            "no two enabled clubs share a timezone: cannot tell (and it does not matter)",
            None,
        )
    if ctx.found.get("cross_customer_query") == "allowed":
        endpoint = Endpoint.QUERY
    elif ctx.found.get("exports") == "present":
        endpoint = Endpoint.TENANTS_EXPORT
    else:
        return _variant_row(ctx, "same_tz_merge", "no endpoint serves several customers", None)
    report = ctx.report_of("statistics")
    exchange = ctx.query(report, CustomerSelector.clubs(pair), endpoint)
    if not exchange.ok:
        return _variant_row(ctx, "same_tz_merge", exchange.describe(), None)
    clubs = {label.get(contract.KEY_CLUB_LABEL) for label in answers.series_labels(exchange.data)}
    if not answers.series_labels(exchange.data):
        return _variant_row(ctx, "same_tz_merge", f"clubs {pair}: no series to look at", None)
    merged = clubs == {None}
    return _variant_row(
        ctx,
        "same_tz_merge",
        f"clubs {pair[0]} and {pair[1]} ({ctx.zones.get(pair[0], 'one zone')}): "
        + ("one series per label without the club" if merged else "series per club"),
        "merged" if merged else "per_club",
        we_assume="one series per club, labelled with loyalty_club_id",
    )


# --- per report ----------------------------------------------------------------------------------


def query_probe(report: str) -> Probe:
    def check(ctx: DoctorContext) -> Finding:
        exchange = ctx.query(report, ctx.first_club())
        kind = ctx.result_type(report) or "unknown"
        title = f"query {report}"
        if not exchange.ok:
            return Finding(
                title,
                f"answers {kind}",
                exchange.describe(),
                Verdict.DIFFERS,
                blocker=_report_blocker(report, exchange),
            )
        shape = answers.shape_of(exchange.data)
        expected = {kind}
        if kind == "statistics" and ctx.found.get("statistics_shape") == "buckets":
            expected = {"statistics+buckets", "timeseries"}
        verdict = Verdict.HOLDS if shape in expected else Verdict.DIFFERS
        return Finding(title, f"answers {kind}", f"answers {shape}", verdict)

    def bound(ctx: DoctorContext) -> int:
        remembered = ctx.clubs and ctx.session.remembered(
            Endpoint.QUERY, ctx.first_club(), ctx.query_body(report)
        )
        return 0 if remembered else ctx.price(report)

    return Probe(f"query:{report}", f"query {report}", bound, check)


# --- headers of every answer ---------------------------------------------------------------------


def check_date_header(ctx: DoctorContext) -> Finding:
    answered = [e for e in ctx.session.exchanges if e.status is not None]
    if not answered:
        return _variant_row(ctx, "date_header", "no answer to look at", None)
    dated = [e for e in answered if e.server_date is not None]
    if len(dated) < len(answered):
        return _variant_row(
            ctx,
            "date_header",
            f"{len(answered) - len(dated)} of {len(answered)} answers without a usable Date "
            "(the as-of time falls back to this machine's clock)",
            "absent",
            we_assume="Date on every answer = its as-of time",
        )
    latest = max(e.server_date for e in dated if e.server_date is not None)
    skew = (ctx.now() - latest).total_seconds()
    return _variant_row(
        ctx,
        "date_header",
        f"Date on every answer, latest {latest.isoformat()} ({_skew(skew)})",
        "present",
        we_assume="Date on every answer = its as-of time",
    )


def _skew(seconds: float) -> str:
    if abs(seconds) < 120:
        return "matches this machine's clock"
    hours = abs(seconds) / 3600
    side = "behind" if seconds > 0 else "ahead of"
    return f"{hours:.1f} h {side} this machine's clock"


def check_rate_limit_headers(ctx: DoctorContext) -> Finding:
    """ratelimit-* on every answer; bucket names ``Customer:<id>`` / ``Organization:<org>``."""
    answered = [e for e in ctx.session.exchanges if e.status is not None]
    if not answered:
        return Finding(
            "rate-limit headers", "ratelimit-bucket/remaining/cost", "no answer", Verdict.UNKNOWN
        )
    names = (
        contract.HEADER_RATELIMIT_BUCKET,
        contract.HEADER_RATELIMIT_REMAINING,
        contract.HEADER_RATELIMIT_COST,
    )
    missing = sorted({n for e in answered for n in names if n not in e.headers})
    notes: list[str] = []
    odd_names: list[str] = []
    organization = ctx.session.api.organization
    for exchange in answered:
        bucket = exchange.headers.get(contract.HEADER_RATELIMIT_BUCKET)
        if bucket is None or exchange.status in (401, contract.STATUS_MISSING_HEADER):
            continue
        selector = _selector(exchange.customer)
        expected = contract.bucket_key(selector, organization)
        if bucket != expected and ctx.session.redact(bucket) not in odd_names:
            odd_names.append(ctx.session.redact(bucket))
            if bucket.startswith("Organization:") and selector.is_multi:
                shown = ctx.session.redact(bucket)
                advice = "pacing keys its buckets by its own names"
                if "<token>" not in shown:
                    advice += f"; PLACEWISE_ORGANIZATION={shown.split(':')[1]} matches them"
                notes.append(f"several clubs are charged to {shown}, not {expected} ({advice})")
            else:
                notes.append(f"{selector} charged to {ctx.session.redact(bucket)}, not {expected}")
    assume = "ratelimit-bucket/-remaining/-cost on every answer; Customer:<id>:Reporting, "
    assume += "Organization:<org>:Reporting"
    if missing:
        return Finding(
            "rate-limit headers",
            assume,
            f"missing {', '.join(missing)} (pacing then counts the catalog's prices)",
            Verdict.DIFFERS,
        )
    if notes:
        return Finding("rate-limit headers", assume, "; ".join(notes), Verdict.DIFFERS)
    return Finding(
        "rate-limit headers", assume, f"as assumed on {len(answered)} answers", Verdict.HOLDS
    )


def _selector(header_value: str) -> CustomerSelector:
    text = header_value.removeprefix("id=")
    ids = [int(p) for p in text.split("_") if p.isdigit()]
    if len(ids) == 1 and text.isdigit():
        return CustomerSelector.club(ids[0])
    if ids:
        return CustomerSelector.clubs(ids)
    return CustomerSelector.all()


# --- the plan ------------------------------------------------------------------------------------


def build_probes(reports: Sequence[str]) -> list[Probe]:
    """Every probe, in the order they run: transport first, then what the client reads."""
    export = contract.EXPORT_COST_MULTIPLIER
    meta = contract.METADATA_COST

    def fixed(tokens: int) -> Callable[[DoctorContext], int]:
        return lambda ctx: tokens

    def priced(kind: str, times: int = 1) -> Callable[[DoctorContext], int]:
        return lambda ctx: times * ctx.price(ctx.report_of(kind))

    return [
        Probe("auth", "auth", fixed(2 * meta), check_auth, "auth", essential=True),
        Probe("headers", "required headers", fixed(meta), check_required_headers),
        Probe("error_bodies", "error bodies", fixed(0), check_error_bodies),
        Probe(
            "menu_only_reports",
            "menu_only_reports",
            fixed(meta),
            check_menu_only_reports,
            "menu_only_reports",
        ),
        *(metadata_probe(r) for r in reports),
        Probe(
            "statistics_shape",
            "statistics_shape",
            priced("statistics"),
            check_statistics_shape,
            "statistics_shape",
        ),
        Probe("window_end", "window_end", priced("timeseries"), check_window_end, "window_end"),
        Probe(
            "cursor_key",
            "cursor_key",
            priced("records", CURSOR_PROBE_REQUESTS),
            check_cursor_key,
            "cursor_key",
        ),
        Probe(
            "cross_customer_query",
            "cross_customer_query",
            priced("statistics"),
            check_cross_customer,
            "cross_customer_query",
        ),
        Probe("export", "export", priced("statistics", export), check_export, "exports"),
        Probe(
            "tenants_export", "tenants export", priced("statistics", export), check_tenants_export
        ),
        Probe(
            "multi_tz_window", "multi_tz_window", fixed(0), check_multi_tz_window, "multi_tz_window"
        ),
        Probe(
            "same_tz_merge",
            "same_tz_merge",
            priced("statistics", export),
            check_same_tz_merge,
            "same_tz_merge",
        ),
        *(query_probe(r) for r in reports),
        Probe("date_header", "date_header", fixed(0), check_date_header, "date_header"),
        Probe("rate_limit_headers", "rate-limit headers", fixed(0), check_rate_limit_headers),
    ]


def run_probe(probe: Probe, ctx: DoctorContext) -> Finding:
    """Run one probe within what is left of the budget; a probe that cannot fit is unknown."""
    before = ctx.session.spent
    bound = probe.max_cost(ctx)
    if not ctx.session.fits(bound):
        return _skipped(probe, f"skipped: needs up to {bound} tokens, {ctx.session.left} left")
    try:
        finding = probe.check(ctx)
    except OverBudgetError as exc:
        finding = _skipped(probe, f"stopped: a request {exc}")
    spent = ctx.session.spent - before
    return Finding(
        finding.assumption,
        finding.we_assume,
        finding.api_does,
        finding.verdict,
        spent,
        finding.variant,
        finding.value,
        finding.blocker,
    )


def _skipped(probe: Probe, why: str) -> Finding:
    spec = VARIANTS_BY_NAME.get(probe.variant or "")
    return Finding(
        probe.assumption,
        spec.assumed if spec else "-",
        why,
        Verdict.UNKNOWN,
        variant=probe.variant,
    )
