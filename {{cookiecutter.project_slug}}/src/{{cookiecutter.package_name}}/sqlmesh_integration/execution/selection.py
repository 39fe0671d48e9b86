"""What a Dagster run asks of SQLMesh: which models to materialize, which audits to report.

A run's selection is the run's, not a step's: ``context.selected_asset_keys``
covers the current step alone, while the one SQLMesh execution of the run
must cover every step. The job a run executes is built from the run's asset
and check selection, so each of its nodes is one model's op, subsetted to the
asset and checks the run selected; a re-execution from failure narrows the
nodes to ``step_keys_to_execute``.

A model appears with ``materialize=False`` when the run selected some of its
checks but not the model itself (the UI's "Execute" on a check): SQLMesh then
audits the table the model has, and evaluates nothing.

A run may also hold assets that are not SQLMesh models (an ingestion step, a
Python asset that SQLMesh reads as an external table). A model below such an
asset must not be evaluated before that asset's step has run: each model
records the steps of the run it waits for (``waits_for``). The models of
another SQLMesh project or component in the run are such assets too; their
steps are recorded with the model each executes (``built_elsewhere``), since
that project's own execution says when the model is built (see :mod:`..runs.claims`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dagster import AssetCheckExecutionContext, AssetCheckKey, AssetExecutionContext, AssetKey, TimeWindow
from dagster._core.definitions.dependency import NodeHandle
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from ..vocabulary.audits import AuditIdentity
from ..vocabulary.constants import (
    AUDIT_ARGS_METADATA,
    AUDIT_METADATA,
    DEFAULT_PROJECT_NAME,
    MODEL_OP_TAG,
    PROJECT_OP_TAG,
    STANDALONE_AUDIT_OP_TAG,
)
from ..vocabulary.partitions import TimeRange

StepContext = AssetExecutionContext | AssetCheckExecutionContext
"""The context of a model's asset step or of a source's check step."""


@dataclass(frozen=True)
class ModelSelection:
    """One model's part in a run."""

    materialize: bool
    """The model's asset is selected: SQLMesh evaluates what the mode asks for."""

    audits: frozenset[AuditIdentity] = field(default_factory=frozenset)
    """The audits whose checks the run selected, by SQLMesh identity."""

    waits_for: frozenset[str] = field(default_factory=frozenset)
    """Steps of this run, not SQLMesh's, upstream of the model: they must succeed first."""

    standalone_audit: bool = False
    """Not a model but a standalone audit (keyed by its name): audited, never evaluated."""

    partitioned: bool = False
    """Its asset is time-partitioned: SQLMesh evaluates the run's range of intervals only."""


@dataclass(frozen=True)
class ModelElsewhere:
    """A model that a step of the run executes for another SQLMesh project (another component)."""

    project: str
    """That project's name: its executions of the run are in the run's folder of that name."""
    fqn: str


@dataclass(frozen=True)
class RunSelection:
    """Every model of a run, keyed by its SQLMesh fully qualified name, and its standalone audits."""

    models: dict[str, ModelSelection]
    readers_of_sqlmesh: frozenset[str] = frozenset()
    """Steps of the run that are not SQLMesh's and read an asset SQLMesh builds in this run."""
    built_elsewhere: Mapping[str, ModelElsewhere] = field(default_factory=dict)
    """Steps of the run that models wait for and that execute another SQLMesh project's model."""
    time_range: TimeRange | None = None
    """The run's range of partitions, for its partitioned models; None: not a partitioned run."""

    @property
    def model_names(self) -> set[str]:
        return {fqn for fqn, selection in self.models.items() if not selection.standalone_audit}

    @property
    def to_materialize(self) -> set[str]:
        return {fqn for fqn, selection in self.models.items() if selection.materialize}

    def restricted_to(self, fqns: set[str]) -> "RunSelection":
        return replace(self, models={fqn: s for fqn, s in self.models.items() if fqn in fqns})

    def in_range(self, fqn: str) -> bool:
        """Whether SQLMesh evaluates ``fqn`` over the run's range only (a partitioned model)."""
        return self.time_range is not None and self.models[fqn].partitioned

    @property
    def to_audit_only(self) -> set[str]:
        """Models whose checks were selected without the model: audited, never evaluated."""
        return {
            fqn for fqn, selection in self.models.items() if not selection.materialize and selection.audits
        }


def run_selection(context: StepContext, project: str) -> RunSelection:
    """The part of the whole run's asset and check selection that SQLMesh ``project`` executes.

    The ops of another SQLMesh project in the run are steps like any other
    Dagster asset's: a model below one of them waits for it. Those it waits
    for are also recorded with their model (``built_elsewhere``).
    """
    job = context.job_def
    step_keys = context.run.step_keys_to_execute
    entities: dict[str, set] = {}  # node name -> the asset and check keys it executes in this run
    models: dict[str, ModelSelection] = {}
    time_range: TimeRange | None = None
    for node in job.graph.nodes:
        if step_keys is not None and node.name not in step_keys:
            continue
        handle = NodeHandle(node.name, parent=None)
        assets_def = job.asset_layer.get_assets_def_for_node(handle)
        if assets_def is None:
            continue
        keys = job.asset_layer.get_selected_entity_keys_for_node(handle)
        entities[node.name] = set(keys)
        fqn = _sqlmesh_name(node.definition.tags, project)
        if fqn is None:
            continue
        if assets_def.partitions_def is not None and time_range is None:
            time_range = _run_time_range(context.run.tags, assets_def.partitions_def)
        models[fqn] = ModelSelection(
            partitioned=assets_def.partitions_def is not None,
            standalone_audit=STANDALONE_AUDIT_OP_TAG in node.definition.tags,
            materialize=any(isinstance(key, AssetKey) for key in keys),
            audits=frozenset(
                audit_identity(assets_def.get_spec_for_check_key(key).metadata)
                for key in keys
                if isinstance(key, AssetCheckKey)
            ),
        )
    sqlmesh_nodes = {node.name for node in job.graph.nodes if _sqlmesh_name(node.definition.tags, project)}
    if set(entities) <= sqlmesh_nodes:  # the common case: a run of SQLMesh assets only
        return RunSelection(models, time_range=time_range)
    producers = {key: name for name, keys in entities.items() for key in keys if isinstance(key, AssetKey)}
    node_of_model = {_sqlmesh_name(node.definition.tags, project): node.name for node in job.graph.nodes}
    models = {
        fqn: replace(
            selection,
            waits_for=_foreign_upstream(
                _targets(entities[node_of_model[fqn]]),
                producers,
                sqlmesh_nodes,
                job.asset_layer.asset_graph,
            ),
        )
        for fqn, selection in models.items()
    }
    waited_for = set().union(*(selection.waits_for for selection in models.values()))
    return RunSelection(
        models,
        built_elsewhere={
            node.name: elsewhere
            for node in job.graph.nodes
            if node.name in waited_for
            and (elsewhere := _model_elsewhere(node.definition.tags, project)) is not None
        },
        readers_of_sqlmesh=frozenset(
            name
            for name in set(entities) - sqlmesh_nodes
            if any(
                producers.get(parent) in sqlmesh_nodes
                for key in _targets(entities[name])
                if job.asset_layer.asset_graph.has(key)
                for parent in job.asset_layer.asset_graph.get(key).parent_keys
            )
        ),
        time_range=time_range,
    )


def _run_time_range(tags: Mapping[str, str], partitions_def: Any) -> TimeRange | None:
    """The time window of the run's partition, or of its range (a single-run backfill)."""
    first = tags.get(PARTITION_NAME_TAG) or tags.get(ASSET_PARTITION_RANGE_START_TAG)
    last = tags.get(PARTITION_NAME_TAG) or tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if first is None or last is None:
        return None
    return TimeRange.from_window(
        TimeWindow(
            partitions_def.time_window_for_partition_key(first).start,
            partitions_def.time_window_for_partition_key(last).end,
        )
    )


def project_of(assets: Sequence[Any]) -> str:
    """The name of the one SQLMesh project whose assets ``assets`` are (``sqlmesh`` if none is tagged).

    Jobs and schedules are made per project: assets of two projects are an error.
    """
    names = {
        asset.op.tags.get(PROJECT_OP_TAG, DEFAULT_PROJECT_NAME)
        for asset in assets
        if asset.is_executable and (MODEL_OP_TAG in asset.op.tags or STANDALONE_AUDIT_OP_TAG in asset.op.tags)
    }
    if len(names) > 1:
        raise ValueError(
            f"These assets are of SQLMesh projects {sorted(names)}: pass the assets of one project at a time."
        )
    return names.pop() if names else DEFAULT_PROJECT_NAME


def _sqlmesh_name(op_tags: Any, project: str) -> str | None:
    """The model or standalone audit of SQLMesh ``project`` an op executes, if any."""
    if op_tags.get(PROJECT_OP_TAG, DEFAULT_PROJECT_NAME) != project:
        return None
    return op_tags.get(MODEL_OP_TAG) or op_tags.get(STANDALONE_AUDIT_OP_TAG)


def _model_elsewhere(op_tags: Any, project: str) -> ModelElsewhere | None:
    """The model of another SQLMesh project than ``project`` an op executes, if any."""
    other = op_tags.get(PROJECT_OP_TAG, DEFAULT_PROJECT_NAME)
    fqn = op_tags.get(MODEL_OP_TAG)
    return ModelElsewhere(other, fqn) if other != project and fqn is not None else None


def _targets(keys: set) -> set[AssetKey]:
    """The assets a node materializes or checks."""
    return {key if isinstance(key, AssetKey) else key.asset_key for key in keys}


def _foreign_upstream(
    start: set[AssetKey], producers: dict[AssetKey, str], sqlmesh_nodes: set[str], asset_graph: Any
) -> frozenset[str]:
    """Nodes of the run that are not SQLMesh's, upstream of ``start`` through assets of the run."""
    found: set[str] = set()
    seen: set[AssetKey] = set()
    pending = list(start)
    while pending:
        key = pending.pop()
        if key in seen:
            continue
        seen.add(key)
        producer = producers.get(key)
        if producer is not None and producer not in sqlmesh_nodes:
            found.add(producer)
        if (key in start or producer is not None) and asset_graph.has(key):
            pending.extend(asset_graph.get(key).parent_keys)
    return frozenset(found)


def audit_identity(check_metadata: dict) -> AuditIdentity:
    """The SQLMesh audit behind a check, from the metadata the factory gave its spec."""

    def text(name: str) -> str:
        value = check_metadata[name]
        return str(getattr(value, "value", value))

    return AuditIdentity(text(AUDIT_METADATA), text(AUDIT_ARGS_METADATA))
