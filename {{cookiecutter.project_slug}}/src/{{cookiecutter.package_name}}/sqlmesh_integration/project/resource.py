"""The SQLMesh resource: a project's settings, its loaded context, its gateway's connection.

It holds what a run needs to know about the project and hands each
execution to an object of its own (:class:`.SQLMeshExecution`), as
dagster-dbt's resource hands a dbt process to an invocation. It knows
nothing about Dagster runs or steps: :mod:`..runs.run_results` decides *when* to
execute and shares the results.
"""

import re
from collections.abc import Callable, Collection
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field, field_validator
from sqlmesh import Context
from sqlmesh.core.config import ConnectionConfig

from ..execution.coordination import Coordination, Holder
from ..execution.event_capture import AuditFailureTarget
from ..execution.execution import MaterializeMode, SQLMeshExecution
from ..execution.execution_stream import StreamWriter
from ..execution.selection import RunSelection
from ..vocabulary.constants import DEFAULT_PROJECT_NAME
from ..vocabulary.diagnostics import load_error
from ..vocabulary.include_metadata import counts_rows
from .definitions_cache import ProjectDefinitions, cached_definitions
from .model_selection import selected_models
from .sqlmesh_config import load_project_configs, project_config

_contexts: dict[tuple[str, str | None], Context] = {}
_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_PROJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_environment_name(name: str) -> str:
    """The name, if SQLMesh can make schemas of it (``marts__dev``); a clear error otherwise."""
    if not _ENVIRONMENT_NAME.match(name):
        raise ValueError(
            f"SQLMesh environment name {name!r} is not valid (SQLMESH_ENVIRONMENT, or the resource's "
            "'environment'): use letters, digits and underscores only, for example 'dev' or 'prod'."
        )
    return name


def check_project_name(name: str) -> str:
    """The name, if it can key a resource and prefix job names; a clear error otherwise."""
    if not _PROJECT_NAME.match(name):
        raise ValueError(
            f"SQLMesh project name {name!r} is not valid (the resource's or component's 'name'): use a "
            "letter, then letters, digits and underscores, for example 'sqlmesh' or 'finance'."
        )
    return name


class SQLMeshResource(ConfigurableResource):
    """Loads a SQLMesh project and executes it against its gateway."""

    name: str = Field(
        default=DEFAULT_PROJECT_NAME,
        description=(
            "The project's name in the code location: its resource key (with '<name>_results' for "
            "its run results) and the prefix of its jobs, schedules and sensor. Two SQLMesh "
            "projects in one code location need two names."
        ),
    )
    project_dir: str = Field(description="Folder holding the SQLMesh project (config.py, models/).")
    gateway: str | None = Field(default=None, description="SQLMesh gateway; None uses the default.")
    environment: str = Field(
        default="prod",
        description="SQLMesh environment the assets live in: runs build and read its views (marts__dev.x).",
    )
    auto_plan: bool = Field(
        default=True,
        description=(
            "Apply the project on disk to the environment before each execution (new and changed "
            "models get new versions; nothing is evaluated by the plan itself). Turn off where "
            "plans are applied from CI, so Dagster only runs what was deployed."
        ),
    )

    lock_timeout_seconds: float = Field(
        default=3600,
        gt=0,
        description=(
            "How long an execution waits for a lock another execution holds on the same SQLMesh "
            "state (the DuckDB file, a model it is evaluating, a plan being applied) before it fails "
            "saying which run holds it. See execution/coordination.py."
        ),
    )

    row_count: bool | None = Field(
        default=None,
        description=(
            "Count the rows of each table a run writes (dagster/row_count, an exact COUNT(*)). "
            "None: on, except on PostgreSQL, where a count reads the whole table "
            "(see vocabulary/include_metadata.py)."
        ),
    )

    select: str | None = Field(
        default=None,
        description=(
            "The models that are this resource's assets, as a SQLMesh selector (marts.*, tag:finance, "
            "+marts.orders); None: every model. See model_selection.py."
        ),
    )
    exclude: str | None = Field(
        default=None, description="Models left out of ``select``, as a SQLMesh selector; None: none."
    )

    @field_validator("environment")
    @classmethod
    def _valid_environment(cls, name: str) -> str:
        return check_environment_name(name)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        return check_project_name(name)

    @property
    def results_key(self) -> str:
        """The resource key of the project's :class:`.SQLMeshRunResults`."""
        return f"{self.name}_results"

    def own_models(self, project: ProjectDefinitions | Context) -> frozenset[str] | None:
        """The models ``select`` and ``exclude`` leave this resource (fqns); None: every model.

        Raises :class:`.ModelSelectionError` naming the setting and its value.
        """
        return selected_models(
            project.models,
            self.select,
            self.exclude,
            default_catalog=project.default_catalog,
            dialect=project.default_dialect,
            project_path=str(project.path),
        )

    def load_definitions(self) -> ProjectDefinitions:
        """What the Dagster definitions need from the project; from a cache when nothing changed."""

        def load_from_disk() -> Context:
            # The project changed since this process last loaded it: load it anew (a context's
            # refresh does not see every change, a new external_models.yaml for one).
            _contexts.pop((self.project_dir, self.gateway), None)
            return self.load_context()

        return cached_definitions(Path(self.project_dir), self.gateway, load_from_disk)

    def load_context(self) -> Context:
        """The process's SQLMesh context, loaded once and refreshed when files change."""
        key = (self.project_dir, self.gateway)
        context = _contexts.get(key)
        try:
            if context is None:
                context = Context(
                    paths=self.project_dir,
                    config=load_project_configs(self.project_dir),
                    gateway=self.gateway,
                    notification_targets=[AuditFailureTarget()],
                )
                _contexts[key] = context
            else:
                context.refresh()
        except Exception as error:
            # A broken model, audit or config.py: say which file and what is wrong.
            raise load_error(error, self.project_dir) from error
        return context

    def execute(
        self,
        selection: RunSelection,
        mode: MaterializeMode,
        writer: StreamWriter,
        not_done_upstream: Collection[str] = (),
        run_id: str | None = None,
    ) -> bool:
        """Execute SQLMesh once for a run, appending to ``writer``; return whether a plan was applied.

        The execution is an object of its own (:class:`.SQLMeshExecution`): this
        resource only holds the settings and the loaded project it hands over.
        ``not_done_upstream``: models an earlier execution of the same run
        failed or skipped, so the models below them are skipped. ``run_id``:
        the Dagster run executing, named to other executions that wait for it.
        """
        context = self.load_context()
        execution = SQLMeshExecution(
            context,
            environment=self.environment,
            auto_plan=self.auto_plan,
            selection=selection,
            mode=mode,
            writer=writer,
            not_done_upstream=not_done_upstream,
            count_rows=counts_rows(self.row_count, context.connection_config.type_),
            owned=self.own_models(context),
            holder=Holder.this_process(run_id),
            lock_timeout_seconds=self.lock_timeout_seconds,
        )
        return execution.run()

    def coordination(self, context: Context, run_id: str | None, say: Callable[[str], None]) -> Coordination:
        """The locks a job working on the project's state outside an execution takes (see
        :mod:`..execution.coordination`): the DuckDB file to read the state, the plan lock to apply a plan."""
        return Coordination.for_context(
            context, Holder.this_process(run_id), self.lock_timeout_seconds, lambda text, _: say(text)
        )


def gateway_connections(
    project_dir: str, gateway: str | None = None
) -> tuple[ConnectionConfig, ConnectionConfig, str | None]:
    """A gateway's warehouse connection, its connection to SQLMesh's state (the warehouse's when it
    names none) and the state's schema, read as SQLMesh reads them, without loading any model."""
    config = project_config(project_dir)
    warehouse = config.get_gateway(gateway).connection
    return warehouse, config.get_state_connection(gateway) or warehouse, config.get_state_schema(gateway)


def gateway_connection(project_dir: str, gateway: str | None = None) -> ConnectionConfig:
    """A gateway's warehouse connection, read from the project's config as SQLMesh reads it.

    For Dagster assets that write tables SQLMesh reads: they reach the same
    warehouse without repeating its settings, and without loading any model.
    """
    return project_config(project_dir).get_gateway(gateway).connection
