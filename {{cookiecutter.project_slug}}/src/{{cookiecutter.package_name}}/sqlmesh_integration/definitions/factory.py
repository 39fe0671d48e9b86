"""The asset factory: one Dagster asset per SQLMesh model.

Each model gets its own single-asset ``multi_asset`` (so that it can be
*skippable*: an asset that yields nothing lets Dagster skip what is below it)
with one asset check per audit; the translator builds each asset's spec.
Every asset body asks the run-results resource for the run's single SQLMesh
execution and hands what it did to its model to :mod:`..reporting.reporting`: this
module builds definitions only.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    TableColumnDep,
    TableColumnLineage,
    multi_asset,
    multi_asset_check,
)
from sqlmesh.core.audit import StandaloneAudit
from sqlmesh.core.model import Model

from ..execution.selection import StepContext
from ..project.definitions_cache import ProjectDefinitions
from ..project.resource import SQLMeshResource
from ..reporting.reporting import report_outcome, report_partitions, report_standalone_audit
from ..runs.run_results import SQLMeshRunResults
from ..vocabulary.audits import AuditUse
from ..vocabulary.constants import (
    AUDIT_ARGS_METADATA,
    AUDIT_METADATA,
    MODEL_OP_TAG,
    PRIORITY_TAG,
    PROJECT_OP_TAG,
    SQLMESH_OP_TAGS,
    STANDALONE_AUDIT_OP_TAG,
)
from ..vocabulary.diagnostics import model_file
from ..vocabulary.model_graph import evaluation_order, tables_read
from ..vocabulary.outcomes import ExecutionResults
from ..vocabulary.partitions import BACKFILL_POLICY, TimeRange, own_range
from .translator import SQLMeshTranslator


def sqlmesh_assets(
    sqlmesh: SQLMeshResource, translator: SQLMeshTranslator | None = None
) -> list[AssetsDefinition]:
    """One asset per SQLMesh model, with lineage, metadata and audits as checks.

    Assets require the resources ``<name>`` (a :class:`SQLMeshResource`, ``sqlmesh``
    by default) and ``<name>_results`` (a :class:`SQLMeshRunResults`), where
    ``<name>`` is ``sqlmesh.name``. With ``sqlmesh.select`` or ``exclude``, only
    the models they leave (:mod:`..project.model_selection`) are assets; the others are
    keys the assets depend on, as sources are. An external model's audits are
    checks here when the selection names it; a standalone audit when it reads
    selected models only.
    """
    project = sqlmesh.load_definitions()
    own = sqlmesh.own_models(project)
    translator = (translator or SQLMeshTranslator()).for_project(project)
    # In SQLMesh's order: each model's spec is made after those of the models it reads, whose keys it needs.
    order = [fqn for fqn in evaluation_order(project.models) if own is None or fqn in own]
    assets = [
        _model_asset(project, project.models[fqn], translator, sqlmesh, _model_priority(rank))
        for rank, fqn in enumerate(order)
    ]
    sources = [
        _source_checks(model, translator, sqlmesh)
        for model in project.models.values()
        if model.kind.is_external and translator.get_audit_uses(model) and (own is None or model.fqn in own)
    ]
    standalone = [
        # After every model's step: a standalone audit runs once SQLMesh is done with the models.
        _standalone_audit_checks(audit, translator, sqlmesh, _model_priority(len(order)))
        for audit in project.standalone_audits.values()
        if audit.depends_on and not audit.skip and (own is None or audit.depends_on <= own)
    ]
    return assets + sources + standalone


def _model_asset(
    project: ProjectDefinitions,
    model: Model,
    translator: SQLMeshTranslator,
    sqlmesh: SQLMeshResource,
    priority: int,
) -> AssetsDefinition:
    spec = translator.asset_spec(model)
    key = spec.key
    partitions_def = spec.partitions_def
    audit_uses = translator.get_audit_uses(model)
    source_file = model_file(project.path, model)
    deps = {fqn: translator.asset_key_of(fqn) for fqn in tables_read(project.models, model)}
    include = translator.include_metadata
    lineage = (
        _column_lineage(project.column_lineage.get(model.fqn, {}), deps) if include.column_lineage else None
    )
    check_specs = _check_specs(key, audit_uses)

    @multi_asset(
        name=key.to_python_identifier(),
        specs=[spec],
        check_specs=check_specs,
        can_subset=True,
        op_tags=_op_tags(sqlmesh, {MODEL_OP_TAG: model.fqn, PRIORITY_TAG: str(priority)}),
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
                context,
                results,
                model.fqn,
                key,
                audit_uses,
                partitions_def,
                within,
                source_file,
                lineage,
                model_range=own_range(model),
                sqlmesh_details=include.sqlmesh_details,
            )
        else:
            yield from report_outcome(
                context,
                results,
                model.fqn,
                key,
                audit_uses,
                source_file,
                lineage,
                sqlmesh_details=include.sqlmesh_details,
            )

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
    key = translator.asset_key_of(model.fqn)
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
    audit: StandaloneAudit, translator: SQLMeshTranslator, sqlmesh: SQLMeshResource, priority: int
) -> AssetChecksDefinition:
    """A standalone audit, as one check on each asset it reads.

    It shows on the **Checks** tab of every table it reads, and runs once in
    the run's SQLMesh execution, after the models, however many of its checks
    are selected. SQLMesh never lets a standalone audit block anything, so its
    checks are not blocking and a failure is a warning.
    """
    name = translator.get_standalone_audit_check_name(audit)
    targets = sorted({translator.asset_key_of(fqn) for fqn in audit.depends_on}, key=lambda k: k.path)
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
        op_tags=_op_tags(sqlmesh, {STANDALONE_AUDIT_OP_TAG: audit.name, PRIORITY_TAG: str(priority)}),
        required_resource_keys={sqlmesh.name, sqlmesh.results_key},
        description=f"SQLMesh standalone audit {audit.name}",
    )
    def _audit(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        results = _get_or_execute(context, sqlmesh, audit.name)
        yield from report_standalone_audit(context, results, audit.name)

    return _audit


def _op_tags(sqlmesh: SQLMeshResource, tags: dict[str, str]) -> dict[str, str]:
    return {**SQLMESH_OP_TAGS, **tags, PROJECT_OP_TAG: sqlmesh.name}


def _model_priority(rank: int) -> int:
    """A model's step priority: below every other step's, and in the order SQLMesh evaluates the models.

    Below the others (``SQLMESH_OP_TAGS``), so an asset SQLMesh reads runs
    first. In SQLMesh's order, so that an executor running one step at a time
    (the in-process one) has each step wait only for models SQLMesh evaluates
    before its own: a slow model holds back the steps of the models after it
    in SQLMesh's pass, not those Dagster happens to order after it.
    """
    return int(SQLMESH_OP_TAGS[PRIORITY_TAG]) - 1 - rank


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
