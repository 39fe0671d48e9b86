"""How SQLMesh names become Dagster names.

Every name the integration shows in Dagster is decided here, in one place,
and :meth:`SQLMeshTranslator.get_asset_spec` builds each model's whole
asset spec from them. Two ways to change a convention:

- a ``translation`` in the component's ``defs.yaml``: templates of the key,
  group, owners, tags, kinds, description or metadata, evaluated per model
  with the model's attributes (:func:`model_attributes`) as ``model``;
- for what templates cannot say, subclass :class:`SQLMeshTranslator`,
  override a method and return an instance from the component's
  ``get_translator`` (or pass it to :func:`sqlmesh_assets`).

Either way, every reference to a model's asset (the deps of the models that
read it, their column lineage, its checks) goes through
:meth:`SQLMeshTranslator.asset_key_of`, so it follows the key the model's
spec ends up with.
"""

import copy
import functools
import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetSpec,
    AutomationCondition,
    FreshnessPolicy,
    TableColumn,
    TableSchema,
    TimeWindowPartitionsDefinition,
)
from dagster.components.utils.translation import TranslationFn
from sqlglot import exp
from sqlmesh.core.audit import StandaloneAudit
from sqlmesh.core.model import Model
from sqlmesh.core.node import IntervalUnit

from ..vocabulary.audits import AuditIdentity, AuditUse, audit_args_key, audit_is_blocking
from ..vocabulary.constants import COLUMN_SCHEMA, CRON_METADATA, KIND, MODEL_NAME, TABLE_NAME
from ..vocabulary.diagnostics import model_file
from ..vocabulary.include_metadata import IncludeMetadata
from ..vocabulary.model_graph import is_asset_model, tables_read
from ..vocabulary.partitions import grid_starts, interval_partitions, wants_partitions
from .cron_policies import due_at_cron, overdue_after_missed_tick

if TYPE_CHECKING:
    from ..project.definitions_cache import ProjectDefinitions

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_ARG_NAME = re.compile(r"(?:^|, )[A-Za-z_][A-Za-z0-9_]*=")
_MAX_CHECK_NAME = 120


ModelAttributes = Mapping[str, object]
"""A model's attributes as a ``translation`` template reads them (``{{ model.schema }}``)."""


class TranslationError(ValueError):
    """A ``translation`` template that failed for a model: names the model and its file."""


def model_attributes(model: Model, project_path: str | None = None) -> ModelAttributes:
    """What a ``translation`` template knows of a model, as plain values (text, lists, ``None``).

    ``name`` as written in the model, ``fqn``; ``catalog``, ``schema`` and
    ``table`` (its parts); ``kind`` (``FULL``, ``INCREMENTAL_BY_TIME_RANGE``,
    ...), ``dialect``, ``owner``, ``tags``, ``description``; ``cron``,
    ``cron_tz``, ``interval_unit`` and ``start``; ``columns`` (names);
    ``path``, the model's file (``sqlmesh_project/models/orders.sql`` when it
    is inside the project folder).
    """
    table = _table(model.fqn)
    return MappingProxyType(
        {
            "name": model.name,
            "fqn": model.fqn,
            "catalog": table.catalog or None,
            "schema": table.db or None,
            "table": table.name,
            "kind": model.kind.name.value,
            "dialect": model.dialect,
            "owner": model.owner,
            "tags": list(model.tags),
            "description": model.description,
            "cron": model.cron,
            "cron_tz": str(model.cron_tz or "UTC"),
            "interval_unit": model.interval_unit.value,
            "start": None if model.start is None else str(model.start),
            "columns": list(model.columns_to_types or {}),
            "path": model_file(project_path, model) if project_path else None,
        }
    )


class SQLMeshTranslator:
    """Derives Dagster asset keys, groups, owners, tags and checks from SQLMesh models.

    ``translation`` (the component's ``translation`` in ``defs.yaml``) is
    applied to the spec the methods make, last: it replaces what it names,
    and adds its tags and metadata to the translator's.
    """

    default_catalog: str | None = None
    """The SQLMesh project's default catalog, set by :meth:`for_catalog` when definitions are built."""

    partition_grid: Mapping[IntervalUnit, datetime] = MappingProxyType({})
    """Where the project's grid of partitions starts, per interval unit; set by :meth:`for_project`."""

    partition_by_default: bool = False
    """Partition every ``INCREMENTAL_BY_TIME_RANGE`` model unless it has the tag
    ``dagster_unpartitioned``. Off: only models tagged ``dagster_partitioned`` are partitioned."""

    translation: TranslationFn[ModelAttributes] | None = None
    """Templated attributes per model (the component's ``translation``), applied to each spec last."""

    freshness_from_cron: bool = True
    """Give each asset the freshness policy of its model's cron (:meth:`get_freshness_policy`)."""

    include_metadata: IncludeMetadata = IncludeMetadata()
    """Which optional metadata assets and materializations carry (the component's ``include_metadata``).

    The translator decides the spec's (``column_schema``); the factory reads it for what a
    materialization carries; ``row_count`` is the resource's (it is counted where SQLMesh runs)."""

    _project: "ProjectDefinitions | None" = None
    _specs: dict[str, AssetSpec]

    def __init__(
        self,
        *,
        partition_by_default: bool | None = None,
        translation: TranslationFn[ModelAttributes] | None = None,
        freshness_from_cron: bool | None = None,
        include_metadata: IncludeMetadata | None = None,
    ) -> None:
        """Settings left out keep the class's (a subclass may set them as class attributes)."""
        if partition_by_default is not None:
            self.partition_by_default = partition_by_default
        if translation is not None:
            self.translation = translation
        if freshness_from_cron is not None:
            self.freshness_from_cron = freshness_from_cron
        if include_metadata is not None:
            self.include_metadata = include_metadata

    def for_catalog(self, default_catalog: str | None) -> "SQLMeshTranslator":
        """A copy of this translator that knows the project's default catalog."""
        translator = copy.copy(self)
        translator.default_catalog = default_catalog
        translator._specs = {}
        return translator

    def for_project(self, project: "ProjectDefinitions") -> "SQLMeshTranslator":
        """A copy of this translator that knows the project: its default catalog, partition grid, models."""
        translator = self.for_catalog(project.default_catalog)
        translator.partition_grid = grid_starts(
            project.models.values(),
            project.default_start,
            lambda model: wants_partitions(model, self.partition_by_default),
        )
        translator._project = project
        return translator

    def asset_spec(self, model: Model) -> AssetSpec:
        """The model's spec (:meth:`get_asset_spec`), made once per project by a :meth:`for_project` copy.

        Once: the key is asked for by every model that reads this one.
        """
        if self._project is None:
            raise ValueError("asset_spec needs a translator that knows the project: use for_project(project)")
        spec = self._specs.get(model.fqn)
        if spec is None:
            spec = self._specs[model.fqn] = self.get_asset_spec(model, self._project)
        return spec

    def asset_key_of(self, fqn: str) -> AssetKey:
        """The key of the asset of table ``fqn``: what deps, column lineage and checks refer to.

        A model of the project Dagster materializes has the key of its whole
        spec (so a ``translation`` or an overridden :meth:`get_asset_spec`
        renames every reference to it too); a table SQLMesh does not build (an
        external model, a table no model declares) has :meth:`get_asset_key`'s,
        so it lines up with the Dagster asset that writes it.
        """
        model = self._project.models.get(fqn) if self._project is not None else None
        if model is None or not is_asset_model(model):
            return self.get_asset_key(fqn)
        return self.asset_spec(model).key

    def get_asset_spec(self, model: Model, project: "ProjectDefinitions") -> AssetSpec:
        """The model's whole asset: key, upstream keys, group, owners, tags, metadata, partitions.

        Override it to change anything at once; the other methods each decide
        one part, and the ``translation`` (if any) is applied last. Checks
        and automation are added by the factory.
        """
        spec = AssetSpec(
            key=self.get_asset_key(model.fqn),
            deps=[self.asset_key_of(fqn) for fqn in sorted(tables_read(project.models, model))],
            description=self.get_description(model),
            group_name=self.get_group_name(model),
            owners=self.get_owners(model),
            tags=self.get_tags(model),
            kinds={"sqlmesh", project.warehouse_kind},
            code_version=project.code_versions[model.fqn],
            skippable=True,
            metadata=self.get_metadata(model, project.columns.get(model.fqn, {})),
            partitions_def=self.get_partitions_def(model),
            freshness_policy=self.get_freshness_policy(model),
        )
        return self.translate(spec, model, project.path)

    def translate(self, spec: AssetSpec, model: Model, project_path: str | None = None) -> AssetSpec:
        """``spec`` with the ``translation``'s templates evaluated for ``model``, or as it is without one.

        A template that fails (an unknown variable, a key Dagster refuses)
        raises a :class:`TranslationError` naming the model and its file.
        """
        if self.translation is None:
            return spec
        try:
            return self.translation(spec, model_attributes(model, project_path))
        except Exception as error:
            where = model_file(project_path, model) if project_path else None
            raise TranslationError(
                f"translation failed for model {model.name}" + (f" ({where})" if where else "") + f": {error}"
            ) from error

    def get_metadata(self, model: Model, columns: dict[str, tuple[str, str | None]]) -> dict[str, object]:
        """Definition metadata: the model's name, kind and table, its cron, its columns' types.

        The columns only with ``include_metadata.column_schema`` (on by default).
        """
        table = _table(model.fqn)
        metadata: dict[str, object] = {
            MODEL_NAME: model.name,
            KIND: model.kind.name.value,
            TABLE_NAME: ".".join(part.name for part in table.parts),
        }
        if model.cron:
            metadata[CRON_METADATA] = model.cron
        if columns and self.include_metadata.column_schema:
            metadata[COLUMN_SCHEMA] = TableSchema(
                columns=[
                    TableColumn(name=name, type=data_type, description=description)
                    for name, (data_type, description) in columns.items()
                ]
            )
        return metadata

    def get_asset_key(self, fqn: str) -> AssetKey:
        """``"warehouse"."marts"."orders"`` becomes ``marts/orders``.

        The default catalog is left out (with DuckDB it is only the file's
        name); a model in another catalog keeps it (``archive/marts/orders``),
        so two models with the same schema and name never share a key.
        External tables referenced by a model go through here too, so they
        line up with assets defined elsewhere under the same convention.
        """
        table = _table(fqn)
        other_catalog = bool(self.default_catalog) and table.catalog not in ("", self.default_catalog)
        return AssetKey(
            [part for part in (table.catalog if other_catalog else "", table.db, table.name) if part]
        )

    def get_partitions_def(self, model: Model) -> TimeWindowPartitionsDefinition | None:
        """Time partitions for an incremental-by-time model that asks (:mod:`..vocabulary.partitions`).

        One partition is one SQLMesh interval of the model's interval unit,
        in UTC, on the project's grid for that unit (from its own start,
        without a project). Every other model is unpartitioned.
        """
        if not wants_partitions(model, self.partition_by_default):
            return None
        return interval_partitions(model, self.partition_grid.get(model.interval_unit))

    def get_group_name(self, model: Model) -> str:
        """One Dagster group per SQLMesh schema."""
        return _table(model.fqn).db or "default"

    def get_description(self, model: Model) -> str | None:
        return model.description

    def get_owners(self, model: Model) -> list[str]:
        """Dagster owners are e-mail addresses or ``team:<name>``."""
        if not model.owner:
            return []
        owner = model.owner.strip()
        return [owner if "@" in owner else f"team:{_TAG_UNSAFE.sub('_', owner)}"]

    def get_tags(self, model: Model) -> dict[str, str]:
        """SQLMesh tags become Dagster tags with an empty value (shown as labels)."""
        return {_TAG_UNSAFE.sub("_", tag)[:63]: "" for tag in model.tags}

    def get_freshness_policy(self, model: Model) -> FreshnessPolicy | None:
        """With ``freshness_from_cron``: :func:`overdue_after_missed_tick` of the model's cron; else none."""
        if not self.freshness_from_cron or not model.cron:
            return None
        return overdue_after_missed_tick(model.cron, str(model.cron_tz or "UTC"))

    def get_automation_condition(self, model: Model) -> AutomationCondition | None:
        """With ``SQLMESH_AUTOMATION=conditions``: :func:`due_at_cron` of the model's cron.

        ``None`` leaves the model to the runs you start.
        """
        return due_at_cron(model.cron, str(model.cron_tz or "UTC"))

    def get_audit_uses(self, model: Model) -> list[AuditUse]:
        """One check per audit use of the model, named by :meth:`get_check_name`."""
        declared = [(audit, args) for audit, args in model.audits_with_args if not audit.skip]
        uses_per_audit: dict[str, int] = {}
        for audit, _ in declared:
            uses_per_audit[audit.name] = uses_per_audit.get(audit.name, 0) + 1
        uses: list[AuditUse] = []
        taken: set[str] = set()
        for audit, args in declared:
            identity = AuditIdentity(audit.name, audit_args_key(args))
            name = self.get_check_name(model, identity, used_more_than_once=uses_per_audit[audit.name] > 1)
            unique, number = name, 1
            while unique in taken:  # two uses whose arguments read the same once made safe
                number += 1
                unique = f"{name}_{number}"
            taken.add(unique)
            blocking = audit_is_blocking(audit.blocking, args)
            uses.append(AuditUse(check_name=unique, identity=identity, blocking=blocking))
        return uses

    def get_standalone_audit_check_name(self, audit: StandaloneAudit) -> str:
        """A standalone audit is one check, of that name, on each asset it reads."""
        return _NAME_UNSAFE.sub("_", audit.name)[:_MAX_CHECK_NAME]

    def get_check_name(self, model: Model, audit: AuditIdentity, used_more_than_once: bool) -> str:
        """The audit's name; for an audit used twice, with the arguments that tell the uses apart.

        ``not_null(columns := (customer_id, email))`` used beside another
        ``not_null`` becomes ``not_null__customer_id__email``. Dagster check
        names allow letters, digits and underscores only.
        """
        if not used_more_than_once or not audit.args_key:
            return audit.audit_name
        values = _ARG_NAME.sub(" ", audit.args_key)
        words = [word for word in _NAME_UNSAFE.split(values) if word]
        return f"{audit.audit_name}__{'__'.join(words)}"[:_MAX_CHECK_NAME]


@functools.lru_cache(maxsize=65536)
def _table(fqn: str) -> exp.Table:
    """A table name parsed once: every model's key is asked for by each model that reads it."""
    return exp.to_table(fqn)
