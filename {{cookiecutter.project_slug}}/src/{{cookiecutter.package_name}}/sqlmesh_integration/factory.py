"""The asset factory: one Dagster asset per SQLMesh model.

Each model gets its own single-asset ``multi_asset`` (so that it can be
*skippable*: an asset that yields nothing lets Dagster skip what is below it)
with one asset check per audit. Every asset body asks the run-results resource
for the run's single SQLMesh execution and reports what it did to its model.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    multi_asset,
    multi_asset_check,
)
from sqlglot import exp
from sqlmesh.core.audit import StandaloneAudit
from sqlmesh.core.model import Model

from .diagnostics import model_file
from .outcomes import AuditOutcome, ExecutionResults, ModelOutcome, ModelStatus
from .partitions import BACKFILL_POLICY, TimeRange, filled_partition_keys
from .project import ProjectDefinitions
from .resource import SQLMeshResource, tables_read
from .run_results import SQLMeshRunResults
from .selection import (
    AUDIT_ARGS_METADATA,
    AUDIT_METADATA,
    MODEL_OP_TAG,
    PROJECT_OP_TAG,
    SQLMESH_OP_TAGS,
    STANDALONE_AUDIT_OP_TAG,
    StepContext,
)
from .translator import CRON_METADATA, AuditIdentity, AuditUse, SQLMeshTranslator, is_asset_model


def sqlmesh_assets(
    sqlmesh: SQLMeshResource, translator: SQLMeshTranslator | None = None
) -> list[AssetsDefinition]:
    """One asset per SQLMesh model, with lineage, metadata and audits as checks.

    Assets require the resources ``<name>`` (a :class:`SQLMeshResource`, ``sqlmesh``
    by default) and ``<name>_results`` (a :class:`SQLMeshRunResults`), where
    ``<name>`` is ``sqlmesh.name``.
    """
    project = sqlmesh.load_definitions()
    translator = (translator or SQLMeshTranslator()).for_catalog(project.default_catalog)
    assets = [
        _model_asset(project, model, translator, sqlmesh)
        for model in project.models.values()
        if is_asset_model(model)
    ]
    sources = [
        _source_checks(model, translator, sqlmesh)
        for model in project.models.values()
        if model.kind.is_external and translator.get_audit_uses(model)
    ]
    standalone = [
        _standalone_audit_checks(audit, translator, sqlmesh)
        for audit in project.standalone_audits.values()
        if audit.depends_on and not audit.skip
    ]
    return assets + sources + standalone


def _model_asset(
    project: ProjectDefinitions, model: Model, translator: SQLMeshTranslator, sqlmesh: SQLMeshResource
) -> AssetsDefinition:
    key = translator.get_asset_key(model.fqn)
    audit_uses = translator.get_audit_uses(model)
    source_file = model_file(project.path, model)
    partitions_def = translator.get_partitions_def(model)
    deps = {fqn: translator.get_asset_key(fqn) for fqn in tables_read(project.models, model)}
    lineage = _column_lineage(project.column_lineage.get(model.fqn, {}), deps)
    spec = AssetSpec(
        key=key,
        deps=list(deps.values()),
        description=translator.get_description(model),
        group_name=translator.get_group_name(model),
        owners=translator.get_owners(model),
        tags=translator.get_tags(model),
        kinds={"sqlmesh", project.warehouse_kind},
        code_version=project.code_versions[model.fqn],
        skippable=True,
        metadata=_definition_metadata(model, project.columns.get(model.fqn, {})),
        partitions_def=partitions_def,
    )
    check_specs = _check_specs(key, audit_uses)

    @multi_asset(
        name=key.to_python_identifier(),
        specs=[spec],
        check_specs=check_specs,
        can_subset=True,
        op_tags=_op_tags(sqlmesh, {MODEL_OP_TAG: model.fqn}),
        required_resource_keys={sqlmesh.name, sqlmesh.results_key},
        backfill_policy=BACKFILL_POLICY if partitions_def else None,
    )
    def _asset(
        context: AssetExecutionContext,
    ) -> Iterator[MaterializeResult | AssetMaterialization | AssetCheckResult]:
        ranged = partitions_def is not None and (context.has_partition_key or context.has_partition_key_range)
        if partitions_def is not None and not ranged and key in context.selected_asset_keys:
            raise Failure(
                f"{key.to_user_string()} is partitioned ({model.name} fills one partition per interval), "
                "and this run names no partition. Pick partitions in the UI, or pass them from the "
                f"terminal: make run SELECT={key.to_user_string()} PARTITION=first...last.",
                allow_retries=False,
            )
        results = _get_or_execute(context, sqlmesh, model.fqn)
        if ranged:
            within = TimeRange.from_window(context.partition_time_window)
            yield from report_partitions(
                context, results, model.fqn, key, audit_uses, partitions_def, within, source_file, lineage
            )
        else:
            yield from report_outcome(context, results, model.fqn, key, audit_uses, source_file, lineage)

    return _asset


def _source_checks(
    model: Model, translator: SQLMeshTranslator, sqlmesh: SQLMeshResource
) -> AssetChecksDefinition:
    """The audits of an external model, as checks on the key of the source it names.

    The source's asset is not defined here (SQLMesh does not build it): the
    checks target its key, so a Dagster asset that produces the table, if
    there is one, carries them; otherwise Dagster shows the source as an
    external asset. They run when they are selected (the source's **Checks**
    tab, or a run that selects them), in the run's one SQLMesh execution and
    before its models: a failing blocking audit stops the models below it.
    """
    key = translator.get_asset_key(model.fqn)
    audit_uses = translator.get_audit_uses(model)

    @multi_asset_check(
        name=f"{key.to_python_identifier()}__sqlmesh_audits",
        specs=_check_specs(key, audit_uses),
        can_subset=True,
        op_tags=_op_tags(sqlmesh, {MODEL_OP_TAG: model.fqn}),
        required_resource_keys={sqlmesh.name, sqlmesh.results_key},
        description=f"SQLMesh audits of the external source {model.name}",
    )
    def _audits(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        results = _get_or_execute(context, sqlmesh, model.fqn)
        # No materialization: a source's asset is never selected, so none is reported.
        yield from (
            event
            for event in report_outcome(context, results, model.fqn, key, audit_uses)
            if isinstance(event, AssetCheckResult)
        )

    return _audits


def _standalone_audit_checks(
    audit: StandaloneAudit, translator: SQLMeshTranslator, sqlmesh: SQLMeshResource
) -> AssetChecksDefinition:
    """A standalone audit, as one check on each asset it reads.

    It shows on the **Checks** tab of every table it reads, and runs once in
    the run's SQLMesh execution, after the models, however many of its checks
    are selected. SQLMesh never lets a standalone audit block anything, so its
    checks are not blocking and a failure is a warning.
    """
    name = translator.get_standalone_audit_check_name(audit)
    targets = sorted({translator.get_asset_key(fqn) for fqn in audit.depends_on}, key=lambda k: k.path)
    specs = [
        AssetCheckSpec(
            name=name,
            asset=target,
            description=audit.description or f"SQLMesh standalone audit '{audit.name}'",
            metadata={AUDIT_METADATA: audit.name, AUDIT_ARGS_METADATA: ""},
        )
        for target in targets
    ]

    @multi_asset_check(
        name=f"{sqlmesh.name}_audit__{name}",
        specs=specs,
        can_subset=True,
        op_tags=_op_tags(sqlmesh, {STANDALONE_AUDIT_OP_TAG: audit.name}),
        required_resource_keys={sqlmesh.name, sqlmesh.results_key},
        description=f"SQLMesh standalone audit {audit.name}",
    )
    def _audit(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        results = _get_or_execute(context, sqlmesh, audit.name)
        if results.error is not None:
            raise Failure(f"SQLMesh could not execute this run: {results.error}", allow_retries=False)
        outcome = results.models[audit.name]
        if outcome.status is ModelStatus.BLOCKED:
            raise Failure(outcome.error, allow_retries=False)
        if outcome.status is ModelStatus.SKIPPED:
            context.log.warning(
                f"SQLMesh did not run the standalone audit {audit.name}: a model it reads was not "
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
                else f"SQLMesh standalone audit '{audit.name}' failed on {result.failing_rows} row(s)",
            )

    return _audit


def _op_tags(sqlmesh: SQLMeshResource, tags: dict[str, str]) -> dict[str, str]:
    return {**tags, PROJECT_OP_TAG: sqlmesh.name, **SQLMESH_OP_TAGS}


def _get_or_execute(context: StepContext, sqlmesh: SQLMeshResource, name: str) -> ExecutionResults:
    """``name``'s outcome in the run's one execution of the project, with the run's own resources.

    The resources are looked up by the project's keys: the run's configured
    instances, not the ones the definitions were built with.
    """
    results: SQLMeshRunResults = getattr(context.resources, sqlmesh.results_key)
    return results.get_or_execute(context, getattr(context.resources, sqlmesh.name), name)


def _check_specs(key: AssetKey, audit_uses: list[AuditUse]) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            name=use.check_name,
            asset=key,
            blocking=use.blocking,
            description=f"SQLMesh audit '{use.audit_name}'"
            + (f" ({use.args_key})" if use.args_key else "")
            + (" - blocking" if use.blocking else " - non-blocking"),
            metadata={AUDIT_METADATA: use.audit_name, AUDIT_ARGS_METADATA: use.args_key},
        )
        for use in audit_uses
    ]


def _column_lineage(
    columns: dict[str, list[tuple[str, str]]], deps: dict[str, AssetKey]
) -> TableColumnLineage | None:
    """SQLMesh's column lineage of a model, in Dagster's terms: columns of the assets it depends on.

    A column traced to a table that is no dependency of the asset (one an
    embedded model reads) is left out rather than drawn to an asset that does
    not exist.
    """
    traced = {
        column: [
            TableColumnDep(asset_key=deps[fqn], column_name=name) for fqn, name in sources if fqn in deps
        ]
        for column, sources in columns.items()
    }
    traced = {column: column_deps for column, column_deps in traced.items() if column_deps}
    return TableColumnLineage(deps_by_column=traced) if traced else None


def _definition_metadata(model: Model, columns: dict[str, tuple[str, str | None]]) -> dict[str, object]:
    table = exp.to_table(model.fqn)
    metadata: dict[str, object] = {
        "sqlmesh/model_name": model.name,
        "sqlmesh/kind": model.kind.name.value,
        "dagster/table_name": ".".join(part.name for part in table.parts),
    }
    if model.cron:
        metadata[CRON_METADATA] = model.cron
    if columns:
        metadata["dagster/column_schema"] = TableSchema(
            columns=[
                TableColumn(name=name, type=data_type, description=description)
                for name, (data_type, description) in columns.items()
            ]
        )
    return metadata


def report_outcome(
    context: StepContext,
    results: ExecutionResults,
    fqn: str,
    key: AssetKey,
    audit_uses: list[AuditUse],
    source_file: str | None = None,
    lineage: TableColumnLineage | None = None,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Translate what SQLMesh did to one model into Dagster events, for what this step selected.

    The execution speaks of audits by SQLMesh identity; ``audit_uses`` (made
    by the translator that built the checks) names them.
    """
    if results.error is not None:
        raise Failure(f"SQLMesh could not execute this run: {results.error}", allow_retries=False)
    outcome = results.models.get(fqn)
    if outcome is None:
        raise Failure(f"SQLMesh's execution for this run did not include {fqn}.", allow_retries=False)
    selected_checks = {check.name for check in context.selected_asset_check_keys}
    uses = {use.identity: use for use in audit_uses if use.check_name in selected_checks}

    if outcome.status is ModelStatus.FAILED:
        raise Failure(
            f"SQLMesh model {outcome.model} failed: {outcome.error}",
            metadata={
                "sqlmesh/model_name": outcome.model,
                **({"sqlmesh/model_file": source_file} if source_file else {}),
                "sqlmesh/error": MetadataValue.md(f"```\n{outcome.error}\n```"),
            },
            allow_retries=False,
        )
    if outcome.status is ModelStatus.BLOCKED:
        raise Failure(outcome.error, metadata={"sqlmesh/model_name": outcome.model}, allow_retries=False)
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
        metadata = _outcome_metadata(outcome)
        if lineage is not None:
            metadata["dagster/column_lineage"] = lineage
        if unreported:
            metadata["sqlmesh/audits_not_selected"] = _unselected_audits_note(unreported)
            context.log.info(f"{outcome.model}: {metadata['sqlmesh/audits_not_selected']}")
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
) -> Iterator[MaterializeResult | AssetMaterialization | AssetCheckResult]:
    """A partitioned model in a run for a range: each partition is what SQLMesh's state says of it.

    When every partition of the range is filled, one result covers them all
    (Dagster records a materialization per partition). Otherwise each filled
    partition is reported on its own and the step fails naming the intervals
    SQLMesh did not fill, with the database's error.
    """
    outcome = results.models.get(fqn)
    partial = (ModelStatus.EVALUATED, ModelStatus.UP_TO_DATE, ModelStatus.FAILED, ModelStatus.NOT_EVALUATED)
    if results.error is not None or outcome is None or outcome.status not in partial:
        yield from report_outcome(context, results, fqn, key, audit_uses, source_file, lineage)
        return
    wanted = partitions_def.get_partition_keys_in_time_window(TimeWindow(within.start, within.end))
    filled = filled_partition_keys(partitions_def, outcome.filled_intervals, within)
    if set(filled) == set(wanted) and outcome.status is not ModelStatus.FAILED:
        yield from report_outcome(context, results, fqn, key, audit_uses, source_file, lineage)
        return
    for partition in filled:
        yield AssetMaterialization(
            asset_key=key,
            partition=partition,
            metadata={
                "sqlmesh/status": "filled: SQLMesh's state holds this interval",
                **(
                    {"sqlmesh/snapshot_version": outcome.snapshot_version} if outcome.snapshot_version else {}
                ),
                **({"sqlmesh/environment": outcome.environment} if outcome.environment else {}),
                **({"dagster/table_name": outcome.view} if outcome.view else {}),
                **({"dagster/column_lineage": lineage} if lineage is not None else {}),
            },
        )
    unfilled = [partition for partition in wanted if partition not in filled]
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
        f"SQLMesh did not fill {len(unfilled)} of the {len(wanted)} partition(s) of {outcome.model} "
        f"in this run{reason}. Not filled: {intervals}."
        + (f" Filled and reported: {len(filled)}." if filled else ""),
        metadata={
            "sqlmesh/model_name": outcome.model,
            "sqlmesh/partitions_not_filled": MetadataValue.json(unfilled),
            **({"sqlmesh/model_file": source_file} if source_file else {}),
            **({"sqlmesh/error": MetadataValue.md(f"```\n{outcome.error}\n```")} if outcome.error else {}),
        },
        allow_retries=False,
    )


def _unselected_audits_note(audits: list[AuditOutcome]) -> str:
    failed = ", ".join(a.audit_name for a in audits if not a.passed)
    return (
        f"SQLMesh ran {len(audits)} audit(s) of this model while evaluating it; their checks are not "
        "selected in this run, so no check result is reported"
        + (f" (failed: {failed})" if failed else " (all passed)")
        + ". A failing blocking audit still stops SQLMesh from promoting the interval."
    )


def _outcome_metadata(outcome: ModelOutcome) -> dict[str, object]:
    metadata: dict[str, object] = {
        "sqlmesh/status": {
            ModelStatus.EVALUATED: "evaluated in this run",
            ModelStatus.AUDIT_FAILED: "evaluated in this run; the rows are written, but a blocking "
            "audit failed, so SQLMesh withheld the interval and skipped everything downstream",
            ModelStatus.UP_TO_DATE: "up to date, not evaluated in this run",
        }[outcome.status],
    }
    if outcome.snapshot_version:
        metadata["sqlmesh/snapshot_version"] = outcome.snapshot_version
    if outcome.physical_table:
        metadata["sqlmesh/physical_table"] = outcome.physical_table
    if outcome.environment:
        metadata["sqlmesh/environment"] = outcome.environment
    if outcome.view:
        metadata["dagster/table_name"] = outcome.view  # where to query it, in this environment
    if outcome.wrote_rows:
        metadata["sqlmesh/duration_s"] = round(outcome.duration_ms / 1000, 3)
        metadata["sqlmesh/intervals"] = MetadataValue.json([list(i) for i in outcome.intervals])
        if outcome.row_count is not None:
            metadata["dagster/row_count"] = outcome.row_count
    if outcome.covered_until:
        metadata["sqlmesh/covered_until"] = outcome.covered_until
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
