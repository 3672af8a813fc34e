"""Running the doctor: the plan and its cost, every probe within the budget, and the verdict.

``plan_doctor`` lists the probes and the most each may spend before anything is sent;
``run_doctor`` runs them in order and collects the findings, the variants found (unknown ones
keep the value the settings file already had), the Metadata read, and the blockers: the
differences the pipeline cannot absorb, each a line saying what to change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from placewise.api.settings import ApiSettings
from placewise.api.variants import VARIANTS, ApiVariants
from placewise.doctor.findings import Finding, Verdict
from placewise.doctor.probes import (
    DoctorContext,
    Probe,
    ProbeAbort,
    build_probes,
    run_probe,
)
from placewise.doctor.session import ProbeSession
from placewise.registry import Club

#: Tokens ``placewise doctor`` may spend unless told otherwise (``--max-tokens``).
DEFAULT_MAX_TOKENS = 100

NO_RECONCILIATION_SOURCE = (
    "no reconciliation source: the query endpoint refuses several customers and the exports "
    "are absent, so the API's cross-club totals cannot be fetched: ask Placewise to enable the "
    "tenants export (or cross-customer queries) for this token"
)


@dataclass(frozen=True)
class PlannedProbe:
    """A line of the plan: a probe and the most tokens it may spend."""

    name: str
    assumption: str
    max_tokens: int
    fits: bool


@dataclass
class DoctorResult:
    """Everything one doctor run found."""

    findings: list[Finding]
    variants: ApiVariants
    unknown: list[str]
    blockers: list[str]
    tokens_spent: int
    max_tokens: int
    checked_at: datetime
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why the run stopped early (no answer, no accepted credential), or None.
    aborted: str | None = None

    @property
    def ok(self) -> bool:
        """True when the pipeline can absorb everything found."""
        return not self.blockers


def configured_reports(clubs: Sequence[Club]) -> list[str]:
    """Every report an enabled club is registered for, in registry order."""
    return list(dict.fromkeys(r for c in clubs if c.enabled for r in c.reports))


def plan_doctor(probes: Sequence[Probe], ctx: DoctorContext) -> list[PlannedProbe]:
    """Each probe with its bound; ``fits`` says whether the budget reaches it on the bounds."""
    planned, total = [], 0
    for probe in probes:
        bound = probe.max_cost(ctx)
        total += bound
        planned.append(
            PlannedProbe(probe.name, probe.assumption, bound, total <= ctx.session.max_tokens)
        )
    return planned


def render_plan(planned: Sequence[PlannedProbe], max_tokens: int) -> str:
    """The plan as text: one line per probe, then the total against the budget."""
    lines = ["plan (tokens each probe may spend; a request shared with an earlier probe is free):"]
    for item in planned:
        mark = "" if item.fits else "  (may not fit)"
        lines.append(f"  {item.max_tokens:>4}  {item.assumption}{mark}")
    total = sum(p.max_tokens for p in planned)
    lines.append(f"at most {total} tokens planned; budget --max-tokens {max_tokens}")
    return "\n".join(lines)


def run_doctor(
    api: ApiSettings,
    clubs: Sequence[Club],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    previous: ApiVariants | None = None,
    transport: httpx.BaseTransport | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    show_plan: Callable[[str], None] | None = None,
    use_export: bool = False,
) -> DoctorResult:
    """Probe the API at ``api`` for the enabled ``clubs`` and their reports (``use_export``:
    the pipeline extracts through the exports, so an absent export blocks it)."""
    previous = previous or ApiVariants()
    enabled = [c for c in clubs if c.enabled]
    reports = configured_reports(enabled)
    findings: list[Finding] = []
    blockers: list[str] = []
    with ProbeSession(api, max_tokens, transport=transport) as session:
        ctx = DoctorContext(session, enabled, reports, now=now, use_export=use_export)
        probes = build_probes(reports)
        if show_plan is not None:
            show_plan(render_plan(plan_doctor(probes, ctx), max_tokens))
        aborted: str | None = None
        for probe in probes:
            if aborted is not None:
                findings.append(_not_run(probe, aborted))
                continue
            before = session.spent
            try:
                finding = run_probe(probe, ctx)
            except ProbeAbort as exc:
                aborted = str(exc)
                blockers.append(aborted)
                findings.append(
                    Finding(
                        probe.assumption,
                        "-",
                        aborted.split(":")[0],
                        Verdict.DIFFERS,
                        session.spent - before,
                        probe.variant,
                    )
                )
                continue
            findings.append(finding)
            if finding.blocker and finding.blocker not in blockers:
                blockers.append(finding.blocker)
        if (
            ctx.found.get("cross_customer_query") == "refused"
            and ctx.found.get("exports") == "absent"
        ):
            blockers.append(NO_RECONCILIATION_SOURCE)
        found = {spec.name: ctx.found.get(spec.name) for spec in VARIANTS}
        unknown = [name for name, value in found.items() if value is None]
        values = {
            name: value if value is not None else getattr(previous, name)
            for name, value in found.items()
        }
        return DoctorResult(
            findings=findings,
            variants=ApiVariants.from_mapping(values),
            unknown=unknown,
            blockers=blockers,
            tokens_spent=session.spent,
            max_tokens=max_tokens,
            checked_at=now(),
            metadata=dict(ctx.metadata),
            aborted=aborted,
        )


def _not_run(probe: Probe, why: str) -> Finding:
    return Finding(probe.assumption, "-", "not run: " + why.split(":")[0], Verdict.UNKNOWN)
