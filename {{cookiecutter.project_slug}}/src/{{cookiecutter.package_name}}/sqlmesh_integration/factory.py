"""The asset factory: one Dagster asset per SQLMesh model.

Each model gets its own single-asset ``multi_asset`` (so that it can be
*skippable*: an asset that yields nothing lets Dagster skip what is below it)
with one asset check per audit. Every asset body asks the run-results resource
for the run's single SQLMesh execution and reports what it did to its model.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)
from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.model import Model

from .outcomes import AuditOutcome, ExecutionResults, ModelOutcome, ModelStatus
from .resource import SQLMeshResource
from .run_results import MODEL_OP_TAG, SQLMeshRunResults
from .translator import AuditUse, SQLMeshTranslator


def sqlmesh_assets(
    sqlmesh: SQLMeshResource, translator: SQLMeshTranslator | None = None
) -> list[AssetsDefinition]:
    """One asset per SQLMesh model, with lineage, metadata and audits as checks.

    Assets require the resources ``sqlmesh`` (a :class:`SQLMeshResource`) and
    ``sqlmesh_results`` (a :class:`SQLMeshRunResults`).
    """
    translator = translator or SQLMeshTranslator()
    context = sqlmesh.load_context()
    warehouse_kind = context.connection_config.type_
    return [
        _model_asset(context, model, translator, warehouse_kind)
        for model in context.models.values()
        if _is_asset(model)
    ]


def _is_asset(model: Model) -> bool:
    """External tables are upstream keys; embedded models are inlined into their users."""
    return not (model.kind.is_external or model.kind.is_embedded)


def _model_asset(
    context: Context, model: Model, translator: SQLMeshTranslator, warehouse_kind: str
) -> AssetsDefinition:
    key = translator.get_asset_key(model.fqn)
    audit_uses = translator.get_audit_uses(model)
    spec = AssetSpec(
        key=key,
        deps=[translator.get_asset_key(fqn) for fqn in _upstream_fqns(context, model)],
        description=translator.get_description(model),
        group_name=translator.get_group_name(model),
        owners=translator.get_owners(model),
        tags=translator.get_tags(model),
        kinds={"sqlmesh", warehouse_kind},
        code_version=model.data_hash,
        skippable=True,
        metadata=_definition_metadata(model),
    )
    check_specs = [
        AssetCheckSpec(
            name=use.check_name,
            asset=key,
            blocking=use.blocking,
            description=f"SQLMesh audit '{use.audit_name}'"
            + (f" ({use.args_key})" if use.args_key else "")
            + (" - blocking" if use.blocking else " - non-blocking"),
        )
        for use in audit_uses
    ]

    @multi_asset(
        name=key.to_python_identifier(),
        specs=[spec],
        check_specs=check_specs,
        can_subset=True,
        op_tags={MODEL_OP_TAG: model.fqn},
    )
    def _asset(
        context: AssetExecutionContext, sqlmesh: SQLMeshResource, sqlmesh_results: SQLMeshRunResults
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        results = sqlmesh_results.get_or_execute(context, sqlmesh)
        yield from report_outcome(context, results, model.fqn, key, audit_uses)

    return _asset


def _upstream_fqns(context: Context, model: Model) -> set[str]:
    """Direct upstream models, looking through embedded models to what they read."""
    upstream = set()
    for fqn in model.depends_on:
        parent = context.models.get(fqn)
        if parent is not None and parent.kind.is_embedded:
            upstream |= _upstream_fqns(context, parent)
        else:
            upstream.add(fqn)
    return upstream


def _definition_metadata(model: Model) -> dict[str, object]:
    table = exp.to_table(model.fqn)
    metadata: dict[str, object] = {
        "sqlmesh/model_name": model.name,
        "sqlmesh/kind": model.kind.name.value,
        "dagster/table_name": ".".join(part.name for part in table.parts),
    }
    if model.cron:
        metadata["sqlmesh/cron"] = model.cron
    if model.columns_to_types:
        descriptions = model.column_descriptions
        metadata["dagster/column_schema"] = TableSchema(
            columns=[
                TableColumn(
                    name=name, type=data_type.sql(dialect=model.dialect), description=descriptions.get(name)
                )
                for name, data_type in model.columns_to_types.items()
            ]
        )
    return metadata


def report_outcome(
    context: AssetExecutionContext,
    results: ExecutionResults,
    fqn: str,
    key: AssetKey,
    audit_uses: list[AuditUse],
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Translate what SQLMesh did to one model into Dagster events."""
    if results.error is not None:
        raise Failure(f"SQLMesh could not execute this run: {results.error}", allow_retries=False)
    outcome = results.models.get(fqn)
    if outcome is None:
        raise Failure(f"SQLMesh's execution for this run did not include {fqn}.", allow_retries=False)

    if outcome.status is ModelStatus.FAILED:
        raise Failure(
            f"SQLMesh model {outcome.model} failed: {outcome.error}",
            metadata={
                "sqlmesh/model_name": outcome.model,
                "sqlmesh/error": MetadataValue.md(f"```\n{outcome.error}\n```"),
            },
            allow_retries=False,
        )
    if outcome.status is ModelStatus.NOT_EVALUATED:
        raise Failure(
            f"SQLMesh model {outcome.model} still has missing intervals that this run did not "
            "evaluate (its cron interval may not have elapsed, or a signal is not ready).",
            allow_retries=False,
        )
    if outcome.status is ModelStatus.SKIPPED:
        context.log.warning(
            f"SQLMesh skipped {outcome.model} because a model upstream of it failed; "
            "Dagster skips everything below it."
        )
        return

    yield MaterializeResult(asset_key=key, metadata=_outcome_metadata(outcome))
    checks = {use.check_name: use for use in audit_uses}
    for audit in outcome.audits:
        if audit.check_name in checks:
            yield _check_result(key, audit)


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
    if outcome.wrote_rows:
        metadata["sqlmesh/duration_s"] = round(outcome.duration_ms / 1000, 3)
        metadata["sqlmesh/intervals"] = MetadataValue.json([list(i) for i in outcome.intervals])
        if outcome.row_count is not None:
            metadata["dagster/row_count"] = outcome.row_count
    if outcome.covered_until:
        metadata["sqlmesh/covered_until"] = outcome.covered_until
    return metadata


def _check_result(key: AssetKey, audit: AuditOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=key,
        check_name=audit.check_name,
        passed=audit.passed,
        severity=AssetCheckSeverity.ERROR if audit.blocking else AssetCheckSeverity.WARN,
        metadata={"failing_rows": audit.failing_rows, "blocking": audit.blocking},
        description=None
        if audit.passed
        else f"SQLMesh audit '{audit.audit_name}' failed on {audit.failing_rows} row(s)",
    )
