"""Safety rails checked before anything is sent.

A plan's verdict refuses it, with a message that says exactly which option allows it, when it has
rejected rows (unless they are skipped) or would change too many of a type's workers; a push also
refuses production without an explicit opt-in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qual_pipeline import settings
from qual_pipeline.push.plan import PlanSummary

PRODUCTION_REFUSAL = (
    "this push targets the production MTurk environment, where changes reach real workers; "
    "pass --allow-production to confirm"
)


class PushRefused(RuntimeError):
    """The push of a plan was refused before anything of it was sent; the message says how to
    allow it. `report` (a runner.PushReport): what the same run did before, when it resumed
    unfinished plans first (None when it sent nothing)."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class GuardLimits:
    """Per qualification type: refuse more than `max_changes` changes or `max_share` of holders,
    and, among them, more than `max_revokes` revocations or `max_revoke_share` of holders.
    The defaults are the settings' (QUAL_PIPELINE_PUSH_MAX_*); revocations stop a worker from
    working on every HIT that requires the type, so their limits are stricter."""

    max_changes: int = settings.PUSH_MAX_CHANGES.required_default
    max_share: float = settings.PUSH_MAX_SHARE.required_default
    max_revokes: int = settings.PUSH_MAX_REVOKES.required_default
    max_revoke_share: float = settings.PUSH_MAX_REVOKE_SHARE.required_default

    def __post_init__(self) -> None:
        for flag, value in (
            ("--max-changes", self.max_changes),
            ("--max-share", self.max_share),
            ("--max-revokes", self.max_revokes),
            ("--max-revoke-share", self.max_revoke_share),
        ):
            if value < 0:
                raise ValueError(f"{flag} must be 0 or more, got {value}")


def guard_violations(summary: PlanSummary, limits: GuardLimits) -> list[str]:
    """One sentence per qualification type the plan would change too much; empty when it may go.
    Counts are written with thousands separators, as the plan's tables write them (`1,341`); the
    options they name, as they are typed (`--max-changes 1341`)."""
    problems = []
    for t in summary.per_type:
        needed = _needed(
            (t.changes, limits.max_changes, "--max-changes"),
            (t.share, limits.max_share, "--max-share"),
        )
        if not needed:
            continue
        holders = f"{t.workers:,} worker{'s hold' if t.workers != 1 else ' holds'} it"
        scores = (
            f", {t.score_changes:,} of them change a held score"
            if summary.kind == "requests" and t.score_changes
            else ""
        )
        problems.append(
            f"type {t.qualification_type_id}: {t.changes:,} changes{scores} = "
            f"{share_text(t.share, limits.max_share)} of its workers ({holders}); the limit is "
            f"{limits.max_changes:,} changes and {limit_text(limits.max_share)}. If this is "
            f"intended, pass {' '.join(needed)}"
        )
    problems.extend(_revoke_violations(summary, limits))
    return problems


def _revoke_violations(summary: PlanSummary, limits: GuardLimits) -> list[str]:
    problems = []
    for t in summary.per_type:
        if not t.revokes:
            continue
        needed = _needed(
            (t.revokes, limits.max_revokes, "--max-revokes"),
            (t.revoke_share, limits.max_revoke_share, "--max-revoke-share"),
        )
        if not needed:
            continue
        problems.append(
            f"type {t.qualification_type_id}: {t.revokes:,} revocation(s) = "
            f"{share_text(t.revoke_share, limits.max_revoke_share)} of its workers "
            f"({t.workers:,} hold it); the limit for revocations is {limits.max_revokes:,} and "
            f"{limit_text(limits.max_revoke_share)}, since a revoked worker can "
            f"no longer work on HITs that require the type. If this is intended, pass "
            f"{' '.join(needed)}"
        )
    return problems


def plan_refusals(summary: PlanSummary, limits: GuardLimits, *, skip_rejected: bool) -> list[str]:
    """Why a push of this plan must be refused (rejected rows, mass changes); empty when it may
    go. Each reason names the option that would allow it."""
    reasons = []
    if summary.rejected_rows and not skip_rejected:
        top = "; ".join(
            f"{n:,} x {reason}" + _example(summary.rejected_examples.get(reason))
            for reason, n in list(summary.rejected.items())[:5]
        )
        source = f", read from {summary.inputs.source}" if summary.inputs.source else ""
        reasons.append(
            f"{summary.rejected_rows:,} row(s) of the plan are rejected ({top}{source}). Fix the "
            "input, or pass --skip-rejected to push the other rows; `qual-pipeline plan` lists "
            "them"
        )
    reasons.extend(guard_violations(summary, limits))
    return reasons


def check_push_allowed(
    summary: PlanSummary,
    limits: GuardLimits,
    *,
    environment: str,
    allow_production: bool,
    skip_rejected: bool,
) -> None:
    """Raise PushRefused with every reason at once, or return when the plan may be pushed."""
    reasons = []
    if environment == "production" and not allow_production:
        reasons.append(PRODUCTION_REFUSAL)
    reasons.extend(plan_refusals(summary, limits, skip_rejected=skip_rejected))
    if reasons:
        raise PushRefused("push refused, nothing was sent:\n- " + "\n- ".join(reasons))


def _needed(count: tuple[int, int, str], share: tuple[float, float, str]) -> list[str]:
    """The flags (with the values that would allow it) for a count and a share over their limits:
    each is (value, limit, flag)."""
    needed = []
    if count[0] > count[1]:
        needed.append(f"{count[2]} {count[0]}")
    if share[0] > share[1]:
        needed.append(f"{share[2]} {_ceil_share(share[0])}")
    return needed


def _example(where: str | None) -> str:
    return f" (first at {where})" if where else ""


def limit_text(limit: float) -> str:
    """A share limit as a percentage with every digit it has: 0.02 -> '2%', 0.025 -> '2.5%'
    (never rounded, so a limit is never shown as another), in exponent notation only when tiny:
    1e-9 -> '0.0000001%', 5e-324 -> '5e-322%' (`settings.percent_text`)."""
    return settings.percent_text(limit)


def share_text(share: float, limit: float | None = None) -> str:
    """A share as a percentage, one decimal (0.1667 -> '16.7%'), or as many more as it takes for
    a share over `limit` to read as over it: 0.02004 against 0.02 -> '2.004%', never '2.0%'."""
    decimals = 1
    shown = round(share * 100, decimals)
    while limit is not None and share > limit and shown <= limit * 100 and decimals < 12:
        decimals += 1
        shown = round(share * 100, decimals)
    return f"{share * 100:.{decimals}f}%"


def _ceil_share(share: float) -> str:
    """The smallest two-decimal share at or above `share`, as typed on the command line."""
    return f"{math.ceil(share * 100 - 1e-9) / 100:.2f}"
