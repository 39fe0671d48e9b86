"""Turning an execution's outcome into Dagster events, at run time: the only place that does.

Definitions are built by :mod:`..definitions.factory`; each asset or check step hands
what the run's execution reported for its model to a function here, which
yields materializations and check results or raises the failure Dagster
shows. Model checks, source checks and standalone audits take one path.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumnLineage,
    TimeWindow,
    TimeWindowPartitionsDefinition,
)

from ..execution.selection import StepContext
from ..vocabulary.audits import AuditIdentity, AuditUse
from ..vocabulary.constants import (
    AUDITS_NOT_SELECTED,
    COLUMN_LINEAGE,
    COVERED_UNTIL,
    DURATION_S,
    ENVIRONMENT,
    ERROR,
    INTERVALS,
    MODEL_FILE,
    MODEL_NAME,
    NOTHING_TO_FILL,
    PARTITIONS_NOT_FILLED,
    PHYSICAL_TABLE,
    ROW_COUNT,
    SNAPSHOT_VERSION,
    STATUS,
    TABLE_NAME,
    WAITED_FOR,
)
from ..vocabulary.include_metadata import SQLMESH_DETAILS
from ..vocabulary.outcomes import STATUS_TEXT, AuditOutcome, ExecutionResults, ModelOutcome, ModelStatus
from ..vocabulary.partitions import TimeRange, filled_partition_keys, outside


def reported_outcome(results: ExecutionResults, fqn: str) -> ModelOutcome:
    """``fqn``'s outcome, or the failure that says why there is none or why it could not start."""
    if results.error is not None:
        raise Failure(f"SQLMesh could not execute this run: {results.error}", allow_retries=False)
    outcome = results.models.get(fqn)
    if outcome is None:
        raise Failure(f"SQLMesh's execution for this run did not include {fqn}.", allow_retries=False)
    if outcome.status is ModelStatus.BLOCKED:
        raise Failure(outcome.error, metadata={MODEL_NAME: outcome.model}, allow_retries=False)
    return outcome


def report_outcome(
    context: StepContext,
    results: ExecutionResults,
    fqn: str,
    key: AssetKey,
    audit_uses: list[AuditUse],
    source_file: str | None = None,
    lineage: TableColumnLineage | None = None,
    extra_metadata: dict[str, object] | None = None,
    sqlmesh_details: bool = True,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Translate what SQLMesh did to one model into Dagster events, for what this step selected.

    The execution speaks of audits by SQLMesh identity; ``audit_uses`` (made
    by the translator that built the checks) names them. ``extra_metadata``
    goes on the materialization as it is; ``sqlmesh_details`` off leaves out
    SQLMesh's details of the evaluation (``include_metadata``).
    """
    outcome = reported_outcome(results, fqn)
    selected_checks = {check.name for check in context.selected_asset_check_keys}
    uses = {use.identity: use for use in audit_uses if use.check_name in selected_checks}

    if outcome.status is ModelStatus.FAILED:
        where = f" ({source_file})" if source_file else ""
        raise Failure(
            f"SQLMesh model {outcome.model}{where} failed: {outcome.error}",
            metadata={
                MODEL_NAME: outcome.model,
                **({MODEL_FILE: source_file} if source_file else {}),
                ERROR: MetadataValue.md(f"```\n{outcome.error}\n```"),
            },
            allow_retries=False,
        )
    if outcome.not_restatable:
        raise Failure(outcome.not_restatable, allow_retries=False)
    if outcome.status is ModelStatus.NOT_EVALUATED and outcome.waiting_on_signals:
        # Waiting is not failing: nothing is materialized, and Dagster skips what is below.
        signals = ", ".join(f"'{name}'" for name in outcome.waiting_on_signals)
        context.log.warning(
            f"SQLMesh did not evaluate {outcome.model}: it is waiting on its signal {signals}, which "
            "did not report its missing intervals ready. Nothing was written; a later run evaluates "
            "them once the signal does."
        )
        return
    if outcome.status is ModelStatus.NOT_EVALUATED:
        raise Failure(
            f"SQLMesh model {outcome.model} still has missing intervals that this run did not "
            "evaluate (most often its cron interval has not elapsed yet). Nothing was written; a "
            "later run evaluates them.",
            allow_retries=False,
        )
    if outcome.status is ModelStatus.SKIPPED:
        context.log.warning(
            f"SQLMesh skipped {outcome.model} because a model or source upstream of it failed; "
            "Dagster skips everything below it."
        )
        return

    reported = {AuditIdentity(a.audit_name, a.args_key): a for a in outcome.audits}
    unreported = [a for identity, a in reported.items() if identity not in uses]
    if key in context.op_execution_context.selected_asset_keys:
        metadata = {**_outcome_metadata(outcome, sqlmesh_details), **(extra_metadata or {})}
        if lineage is not None:
            metadata[COLUMN_LINEAGE] = lineage
        if unreported:
            metadata[AUDITS_NOT_SELECTED] = _unselected_audits_note(unreported)
            context.log.info(f"{outcome.model}: {metadata[AUDITS_NOT_SELECTED]}")
        yield MaterializeResult(asset_key=key, metadata=metadata)
    for identity, use in uses.items():
        if identity in reported:
            yield _check_result(key, use, reported[identity])
    unselected_blocking = [a for a in unreported if a.blocking and not a.passed]
    if unselected_blocking:
        names = ", ".join(a.audit_name for a in unselected_blocking)
        raise Failure(
            f"SQLMesh's blocking audit {names} of {outcome.model} failed, so SQLMesh withheld the "
            "interval and skipped everything downstream. Its check was not selected in this run, so "
            "no check result is recorded: execute the check to see the failing rows.",
            allow_retries=False,
        )


def report_partitions(
    context: StepContext,
    results: ExecutionResults,
    fqn: str,
    key: AssetKey,
    audit_uses: list[AuditUse],
    partitions_def: TimeWindowPartitionsDefinition,
    within: TimeRange,
    source_file: str | None = None,
    lineage: TableColumnLineage | None = None,
    model_range: TimeRange | None = None,
    sqlmesh_details: bool = True,
) -> Iterator[MaterializeResult | AssetMaterialization | AssetCheckResult]:
    """A partitioned model in a run for a range: each partition is what SQLMesh's state says of it.

    When every partition of the range is filled, one result covers them all
    (Dagster records a materialization per partition). Otherwise each filled
    partition is reported on its own and the step fails naming the intervals
    SQLMesh did not fill, with the database's error. A partition outside the
    model's own range (``model_range``: before its start, after its end) has
    nothing to fill: it is never a failure, and the metadata names it.
    """
    outcome = results.models.get(fqn)
    partial = (ModelStatus.EVALUATED, ModelStatus.UP_TO_DATE, ModelStatus.FAILED, ModelStatus.NOT_EVALUATED)
    if results.error is not None or outcome is None or outcome.status not in partial:
        yield from report_outcome(
            context, results, fqn, key, audit_uses, source_file, lineage, sqlmesh_details=sqlmesh_details
        )
        return
    wanted = partitions_def.get_partition_keys_in_time_window(TimeWindow(within.start, within.end))
    empty = outside(partitions_def, wanted, model_range) if model_range else []
    to_fill = [partition for partition in wanted if partition not in empty]
    filled = filled_partition_keys(partitions_def, outcome.filled_intervals, within)
    empty_note = {NOTHING_TO_FILL: _nothing_to_fill(empty, model_range)} if empty and model_range else {}
    if set(filled) >= set(to_fill) and outcome.status is not ModelStatus.FAILED:
        yield from report_outcome(
            context,
            results,
            fqn,
            key,
            audit_uses,
            source_file,
            lineage,
            extra_metadata=empty_note,
            sqlmesh_details=sqlmesh_details,
        )
        return
    yield from _partition_materializations(key, outcome, empty, filled, model_range, lineage, sqlmesh_details)
    unfilled = [partition for partition in to_fill if partition not in filled]
    _warn_or_fail_unfilled(context, outcome, partitions_def, unfilled, len(to_fill), len(filled), source_file)


def _partition_materializations(
    key: AssetKey,
    outcome: ModelOutcome,
    empty: list[str],
    filled: list[str],
    model_range: TimeRange | None,
    lineage: TableColumnLineage | None,
    sqlmesh_details: bool,
) -> Iterator[AssetMaterialization]:
    """One materialization per partition SQLMesh's state holds, and per partition with nothing to fill.

    Reported one by one (not as one result) because the step goes on to fail
    for the others: what was filled must still show as filled.
    """
    for partition in empty:
        yield AssetMaterialization(
            asset_key=key,
            partition=partition,
            metadata={
                STATUS: f"nothing to fill: outside {outcome.model}'s own range",
                NOTHING_TO_FILL: _nothing_to_fill([partition], model_range),
            },
        )
    for partition in filled:
        yield AssetMaterialization(
            asset_key=key,
            partition=partition,
            metadata={
                STATUS: "filled: SQLMesh's state holds this interval",
                **(
                    {SNAPSHOT_VERSION: outcome.snapshot_version}
                    if sqlmesh_details and outcome.snapshot_version
                    else {}
                ),
                **({ENVIRONMENT: outcome.environment} if outcome.environment else {}),
                **({TABLE_NAME: outcome.view} if outcome.view else {}),
                **({COLUMN_LINEAGE: lineage} if lineage is not None else {}),
            },
        )


def _warn_or_fail_unfilled(
    context: StepContext,
    outcome: ModelOutcome,
    partitions_def: TimeWindowPartitionsDefinition,
    unfilled: list[str],
    wanted: int,
    filled: int,
    source_file: str | None,
) -> None:
    """Fail the step for the partitions SQLMesh did not fill, naming them and the database's error.

    Partitions waiting on a signal are not a failure: SQLMesh fills them once
    the signal says so, and the step only warns. A model that failed fails
    the step even when what it failed on left no partition unfilled.
    """
    intervals = ", ".join(
        str(TimeRange.from_window(partitions_def.time_window_for_partition_key(p))) for p in unfilled
    )
    if outcome.status is ModelStatus.NOT_EVALUATED and outcome.waiting_on_signals:
        signals = ", ".join(f"'{name}'" for name in outcome.waiting_on_signals)
        context.log.warning(
            f"SQLMesh did not evaluate {len(unfilled)} partition(s) of {outcome.model}: it is waiting on "
            f"its signal {signals}. Not filled: {intervals}."
        )
        return
    reason = f": {outcome.error}" if outcome.error else " (its intervals were not evaluated in this run)"
    raise Failure(
        f"SQLMesh did not fill {len(unfilled)} of the {wanted} partition(s) of {outcome.model} "
        f"in this run{reason}. Not filled: {intervals}."
        + (f" Filled and reported: {filled}." if filled else ""),
        metadata={
            MODEL_NAME: outcome.model,
            PARTITIONS_NOT_FILLED: MetadataValue.json(unfilled),
            **({MODEL_FILE: source_file} if source_file else {}),
            **({ERROR: MetadataValue.md(f"```\n{outcome.error}\n```")} if outcome.error else {}),
        },
        allow_retries=False,
    )


def _nothing_to_fill(partitions: list[str], model_range: TimeRange | None) -> MetadataValue:
    """Partitions outside the model's own range, with that range (an open end: None)."""
    start, end = (model_range.start, model_range.end) if model_range else (None, None)
    return MetadataValue.json(
        {
            "partitions": partitions,
            "model_starts": start.isoformat() if start and start.year > 1 else None,
            "model_ends": end.isoformat() if end and end.year < 9999 else None,
        }
    )


def _unselected_audits_note(audits: list[AuditOutcome]) -> str:
    failed = ", ".join(a.audit_name for a in audits if not a.passed)
    return (
        f"SQLMesh ran {len(audits)} audit(s) of this model while evaluating it; their checks are not "
        "selected in this run, so no check result is reported"
        + (f" (failed: {failed})" if failed else " (all passed)")
        + ". A failing blocking audit still stops SQLMesh from promoting the interval."
    )


def _outcome_metadata(outcome: ModelOutcome, sqlmesh_details: bool) -> dict[str, object]:
    """A materialization's metadata; without :data:`.SQLMESH_DETAILS` when ``sqlmesh_details`` is off."""
    metadata: dict[str, object] = {
        STATUS: STATUS_TEXT[outcome.status],
    }
    if outcome.snapshot_version:
        metadata[SNAPSHOT_VERSION] = outcome.snapshot_version
    if outcome.physical_table:
        metadata[PHYSICAL_TABLE] = outcome.physical_table
    if outcome.environment:
        metadata[ENVIRONMENT] = outcome.environment
    if outcome.view:
        metadata[TABLE_NAME] = outcome.view  # where to query it, in this environment
    if outcome.wrote_rows:
        metadata[DURATION_S] = round(outcome.duration_ms / 1000, 3)
        metadata[INTERVALS] = MetadataValue.json([list(i) for i in outcome.intervals])
        if outcome.row_count is not None:
            metadata[ROW_COUNT] = outcome.row_count
    if outcome.covered_until:
        metadata[COVERED_UNTIL] = outcome.covered_until
    if outcome.waited_for:
        metadata[WAITED_FOR] = outcome.waited_for
    if not sqlmesh_details:
        return {name: value for name, value in metadata.items() if name not in SQLMESH_DETAILS}
    return metadata


def _check_result(key: AssetKey, use: AuditUse, audit: AuditOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=key,
        check_name=use.check_name,
        passed=audit.passed,
        severity=AssetCheckSeverity.ERROR if use.blocking else AssetCheckSeverity.WARN,
        metadata={"failing_rows": audit.failing_rows, "blocking": audit.blocking},
        description=None
        if audit.passed
        else f"SQLMesh audit '{audit.audit_name}' failed on {audit.failing_rows} row(s)",
    )


def report_standalone_audit(
    context: StepContext, results: ExecutionResults, audit_name: str
) -> Iterator[AssetCheckResult]:
    """A standalone audit's result, as a non-blocking check on each selected asset it reads.

    SQLMesh never lets a standalone audit block anything, so a failure is a warning.
    """
    outcome = reported_outcome(results, audit_name)
    if outcome.status is ModelStatus.SKIPPED:
        context.log.warning(
            f"SQLMesh did not run the standalone audit {audit_name}: a model it reads was not "
            "completed in this run. No result is reported."
        )
        return
    (result,) = outcome.audits
    for key in context.selected_asset_check_keys:
        yield AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=result.passed,
            severity=AssetCheckSeverity.WARN,
            metadata={"failing_rows": result.failing_rows, "blocking": False},
            description=None
            if result.passed
            else f"SQLMesh standalone audit '{audit_name}' failed on {result.failing_rows} row(s)",
        )
