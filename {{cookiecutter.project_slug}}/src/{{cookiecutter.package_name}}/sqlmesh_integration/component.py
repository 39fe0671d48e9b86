"""The integration as a Dagster component: one SQLMesh project per ``defs.yaml``.

A folder under ``defs/`` with a ``defs.yaml`` naming this type loads a SQLMesh
project with everything the integration defines for it: an asset per model,
audits as checks, the environment jobs, the interval report job, and the
schedules or the automation sensor. A second project is a second folder with
its own ``name``: its resources, jobs, schedules and sensor are named by it, and
a run of both executes each project once. ``dg scaffold defs
<package>.sqlmesh_integration.SQLMeshProjectComponent <folder>`` writes such a
folder (:mod:`.scaffolding`; ``--init true`` creates the SQLMesh project too).

The settings are the resources' (:class:`.SQLMeshResource`, ``lock_timeout_seconds``
included: how long a run waits for another that holds what it needs, see
:mod:`.execution.coordination`; and ``mode``, ``keep_finished_runs`` and ``run_store``
of :class:`.SQLMeshRunResults`) and the translator's:
``partition_by_default``, ``freshness_from_cron`` (each asset overdue in the UI
once its model's cron period passes without a run; on, as Dagster 1.13's
freshness policies are a stable API) and ``translation``, templates of each
asset's key, group, owners, tags, kinds, description and metadata with the
model's attributes as ``model``::

    translation:
      key: "warehouse/{{ model.schema }}/{{ model.table }}"
      group_name: "{{ model.schema }}"
      owners: ["team:{{ model.schema }}"]
      metadata:
        source_file: "{{ model.path }}"

What the translation names replaces the translator's; its tags and metadata
are added to them. For what templates cannot say, override
:meth:`SQLMeshProjectComponent.get_translator` to return a subclass of
:class:`.SQLMeshTranslator`.

``select`` and ``exclude`` make only some of the project's models this
component's assets, with SQLMesh's own selector syntax (names, ``marts.*``,
``tag:finance``, ``+`` for up- or downstream, ``|``, ``&``, ``^``;
:mod:`.project.model_selection`). The others stay keys its assets depend on, so two
components with their own ``name`` can split one SQLMesh project, each
defining its own models' assets; a run of one never evaluates the other's
models (one it reads that has no table yet fails its step, saying to
materialize it with the component that selects it)::

    select: "marts.*"
    exclude: "tag:experimental"

``include_metadata`` turns each optional kind of metadata on or off:
``row_count`` (an exact ``COUNT(*)`` of each table a run writes; unset, it is
on except on PostgreSQL, where a count reads the whole table and the cheap
statistics are no count right after a write), ``column_schema``,
``column_lineage`` and ``sqlmesh_details`` (the snapshot version, physical
table, intervals, duration), all on (:mod:`.vocabulary.include_metadata`)::

    include_metadata:
      row_count: true
      column_lineage: false

``dg check defs`` reports a setting that is missing, mistyped or of the
wrong kind, naming the file and the line, and a value the resource refuses,
a selector SQLMesh cannot read or that matches nothing, or a template that
fails, naming the file and the value.
"""

from typing import Annotated, Literal

from dagster import Component, ComponentLoadContext, Definitions, Model, Resolvable, scaffold_with
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import Field

from .definitions.automation import sqlmesh_automation
from .definitions.factory import sqlmesh_assets
from .definitions.translator import ModelAttributes, SQLMeshTranslator
from .environments.environments import sqlmesh_environment_jobs
from .environments.interval_report import sqlmesh_interval_report_jobs
from .project.model_selection import ModelSelectionError
from .project.resource import SQLMeshResource
from .runs.run_results import SQLMeshRunResults
from .scaffolding import SQLMeshProjectScaffolder
from .vocabulary.constants import DEFAULT_PROJECT_NAME
from .vocabulary.include_metadata import IncludeMetadata


class ModelTranslationResolver(TranslationFnResolver[ModelAttributes]):
    """Dagster's resolver of a templated ``translation``, with the model's attributes as ``model``.

    Its own class only to carry a description and an example into the schema
    ``dg`` documents and checks the file against.
    """

    def __init__(self, description: str) -> None:
        super().__init__(template_vars_for_translation_fn=lambda model: {"model": model})
        self.description = description
        self.examples = [
            {"key": "warehouse/{{ model.schema }}/{{ model.table }}", "group_name": "{{ model.schema }}"}
        ]


@scaffold_with(SQLMeshProjectScaffolder)
class SQLMeshProjectComponent(Component, Model, Resolvable):
    """A SQLMesh project: each model an asset, audits as checks, one execution per run."""

    project_dir: str = Field(
        description="The SQLMesh project's folder (config.py, models/): relative to the project root "
        "(where pyproject.toml is), or absolute."
    )
    name: str = Field(
        default=DEFAULT_PROJECT_NAME,
        description="The project's name in the code location: its resource key and the prefix of its "
        "jobs, schedules and sensor. Each project of a code location needs its own.",
    )
    select: str | None = Field(
        default=None,
        description="The models that are this component's assets, as a SQLMesh selector: names "
        "(marts.orders), wildcards (marts.*), tag:<tag>, + for upstream/downstream, joined with |, & or ^. "
        "None: every model. The others stay keys the assets depend on.",
        examples=["marts.*", "tag:finance | +marts.revenue"],
    )
    exclude: str | None = Field(
        default=None,
        description="Models left out of select, as a SQLMesh selector (raw.*, tag:experimental).",
    )
    gateway: str | None = Field(default=None, description="The SQLMesh gateway; none: the project's default.")
    environment: str = Field(default="prod", description="The SQLMesh environment runs build and read.")
    auto_plan: bool = Field(
        default=True, description="Apply the project on disk before each run; false where CI applies plans."
    )
    automation: Literal["schedule", "conditions"] = Field(
        default="schedule",
        description="What starts runs on their own: one schedule at the most frequent model cron, or a "
        "condition per model from its cron (docs/adr/0008). Off until turned on in the UI.",
    )
    partition_by_default: bool = Field(
        default=False,
        description="Partition every INCREMENTAL_BY_TIME_RANGE model, not only those tagged "
        "dagster_partitioned (docs/adr/0006).",
    )
    mode: Literal["run", "restate"] = Field(
        default="run",
        description="What materializing means unless a run has the 'sqlmesh/mode' tag: 'run' evaluates "
        "missing intervals only (SQLMesh's run, what a schedule wants); 'restate' re-evaluates the "
        "selected models.",
    )
    keep_finished_runs: int = Field(
        default=20,
        ge=0,
        description="How many finished runs' result folders (each execution's stream of events) to keep "
        "in the Dagster instance's storage for inspection.",
    )
    run_store: Literal["auto", "state_database"] = Field(
        default="auto",
        description="Where the steps of a run find its SQLMesh execution: 'auto' uses files of the "
        "instance's storage, or SQLMesh's PostgreSQL state under an executor that runs each step on "
        "a host of its own (k8s, docker, celery); 'state_database' uses the state whatever the "
        "executor (an executor of your own that puts steps on other hosts). docs/deployment.md.",
    )
    lock_timeout_seconds: float = Field(
        default=3600,
        description="How long an execution waits for a lock another run holds on the same SQLMesh state "
        "(the DuckDB file, a model it is evaluating, a plan it applies) before failing, naming that run "
        "(docs/adr/0011); more than 0.",
    )

    freshness_from_cron: bool = Field(
        default=True,
        description="Give each asset Dagster's freshness policy of its model's cron (in the model's "
        "cron_tz): overdue in the UI once a whole cron period passes without a run.",
    )
    include_metadata: IncludeMetadata = Field(
        default_factory=IncludeMetadata,
        description="Optional metadata, each on or off: row_count (unset: on, except on PostgreSQL), "
        "column_schema, column_lineage, sqlmesh_details (all on).",
    )
    translation: Annotated[
        TranslationFn[ModelAttributes] | None,
        ModelTranslationResolver(
            "Each model's asset attributes as templates: key (or key_prefix), group_name, owners, tags, "
            "kinds, description, metadata, ... evaluated per model with its SQLMesh attributes as `model` "
            "(name, fqn, catalog, schema, table, kind, dialect, owner, tags, description, cron, cron_tz, "
            "interval_unit, start, columns, path) and the translator's spec as `spec`. What it names "
            "replaces the translator's; tags and metadata are added to them."
        ),
    ] = None

    def get_translator(self) -> SQLMeshTranslator:
        """The translator of this project's names: override it in a subclass to change them."""
        return SQLMeshTranslator(
            partition_by_default=self.partition_by_default,
            freshness_from_cron=self.freshness_from_cron,
            translation=self.translation,
            include_metadata=self.include_metadata,
        )

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        project_dir = context.project_root / self.project_dir
        if not project_dir.is_dir():
            raise FileNotFoundError(
                f"{context.path / 'defs.yaml'}: project_dir {self.project_dir!r} is not a folder "
                f"({project_dir}). Give the SQLMesh project's folder, relative to {context.project_root}."
            )
        sqlmesh = SQLMeshResource(
            name=self.name,
            project_dir=str(project_dir),
            gateway=self.gateway,
            environment=self.environment,
            auto_plan=self.auto_plan,
            row_count=self.include_metadata.row_count,
            lock_timeout_seconds=self.lock_timeout_seconds,
            select=self.select,
            exclude=self.exclude,
        )
        translator = self.get_translator()
        try:
            assets = sqlmesh_assets(sqlmesh, translator)
        except ModelSelectionError as error:
            raise ModelSelectionError(f"{context.path / 'defs.yaml'}: {error}") from None
        automation = sqlmesh_automation(sqlmesh, assets, self.automation, translator)
        return Definitions(
            assets=automation.assets,
            schedules=automation.schedules,
            sensors=automation.sensors,
            jobs=[*sqlmesh_environment_jobs(assets), *sqlmesh_interval_report_jobs(assets)],
            resources={
                sqlmesh.name: sqlmesh,
                sqlmesh.results_key: SQLMeshRunResults(
                    mode=self.mode, keep_finished_runs=self.keep_finished_runs, run_store=self.run_store
                ),
            },
        )
