"""Where a run's steps find its SQLMesh execution, and a step that cannot find it anywhere.

Under Dagster's own executors the steps of a run share it through files on the run's
host; under dagster-k8s', dagster-docker's or dagster-celery's step executors, through
tables of SQLMesh's PostgreSQL state. A DuckDB warehouse cannot be reached from other
hosts, so a step refuses to start there, saying what to use instead. The run below is
real; its executor is Dagster's in-process one under the name dagster-celery gives its
executor, which is what a step sees of it (the template's tests run the real
dagster-celery with two workers).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from component_sandbox import components_sandbox, duckdb_project
from dagster import (
    DagsterEventType,
    DagsterInstance,
    Failure,
    execute_job,
    in_process_executor,
    instance_for_test,
    multiprocess_executor,
)
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from sqlmesh.core.config import DuckDBConnectionConfig, PostgresConnectionConfig

from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.placement import (
    STEPS_ON_OTHER_HOSTS,
    STEPS_ON_THE_RUNS_HOST,
    RunStoreSetting,
    run_store,
    state_not_shared_failure,
    steps_elsewhere_failure,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.postgres_store import PostgresRunStore
from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.store import FILES

MODELS = {"orders": "MODEL (name raw.orders, kind FULL);\nSELECT 1 AS id"}

_LOADER = """\
from pathlib import Path

from dagster import Definitions, executor, load_from_defs_folder
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor


@executor(name="celery")
def named_as_celery(init_context):
    return InProcessExecutor(retries=RetryMode.DISABLED, marker_to_close=None)


defs = Definitions.merge(
    load_from_defs_folder(path_within_project=Path(__file__).parent), Definitions(executor=named_as_celery)
)
"""


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance


def test_dagsters_own_executors_keep_steps_on_the_runs_host():
    assert {in_process_executor.name, multiprocess_executor.name} == STEPS_ON_THE_RUNS_HOST
    assert not STEPS_ON_THE_RUNS_HOST & set(STEPS_ON_OTHER_HOSTS)


# Built without validation: a DuckDB project need not have PostgreSQL's driver installed.
POSTGRES = PostgresConnectionConfig.model_construct(
    host="127.0.0.1", user="u", password="", port=5432, database="w"
)
DUCKDB = DuckDBConnectionConfig(database=":memory:")
AUTO, STATE_DATABASE = RunStoreSetting.AUTO, RunStoreSetting.STATE_DATABASE


def test_steps_on_the_runs_host_share_files_and_steps_elsewhere_share_the_postgresql_state():
    assert run_store("multiprocess", AUTO, DUCKDB, DUCKDB, None) is FILES
    assert run_store("in_process", AUTO, POSTGRES, POSTGRES, "sqlmesh") is FILES
    assert isinstance(run_store("celery", AUTO, POSTGRES, POSTGRES, "sqlmesh"), PostgresRunStore)
    # A team's own executor asks for the state database; a DuckDB warehouse is fine on one host.
    assert isinstance(run_store("my_executor", STATE_DATABASE, DUCKDB, POSTGRES, None), PostgresRunStore)


def test_a_step_elsewhere_is_refused_on_a_duckdb_warehouse_or_a_state_that_is_not_postgresql():
    with pytest.raises(Failure) as on_duckdb:
        run_store("k8s", AUTO, DUCKDB, POSTGRES, None)
    assert on_duckdb.value.description == steps_elsewhere_failure("k8s").description
    with pytest.raises(Failure) as state_on_duckdb:
        run_store("celery", AUTO, POSTGRES, DUCKDB, None)
    assert state_on_duckdb.value.description == state_not_shared_failure("celery", "duckdb").description
    with pytest.raises(Failure, match="run_store is 'state_database'"):
        run_store("multiprocess", STATE_DATABASE, DUCKDB, DUCKDB, None)


def test_the_messages_name_the_executor_why_and_what_to_use():
    on_duckdb = steps_elsewhere_failure("k8s")
    assert on_duckdb.description.startswith("This run's executor, dagster-k8s's k8s_job_executor ('k8s'),")
    assert "a DuckDB file, which only one host can open" in on_duckdb.description
    assert "Use the multiprocess or in_process executor (DAGSTER_EXECUTOR)" in on_duckdb.description
    state = state_not_shared_failure("celery", "duckdb").description
    assert state.startswith("This run's executor, dagster-celery's celery_executor ('celery'),")
    assert "must be PostgreSQL, and this project's state is on duckdb" in state
    assert "the gateway's state_connection in config.py" in state
    assert on_duckdb.allow_retries is False


def test_a_run_under_a_step_executor_fails_before_it_claims_or_starts_anything(tmp_path: Path, instance):
    with components_sandbox(duckdb_project(tmp_path, MODELS), {"sqlmesh": {}}) as sandbox:
        loader = sandbox.defs_folder_path.parent / "definitions.py"
        loader.write_text(_LOADER)
        repository = ReconstructableRepository.for_file(
            str(loader), "defs", working_directory=str(sandbox.project_root / "src")
        )
        with execute_job(ReconstructableJob(repository, IMPLICIT_ASSET_JOB_NAME), instance) as result:
            assert not result.success
            failures = [
                event.step_failure_data.error.message
                for event in result.all_events
                if event.event_type == DagsterEventType.STEP_FAILURE
            ]
            run_id = result.run_id

    assert len(failures) == 1 and "dagster-celery's celery_executor ('celery')" in failures[0], failures
    assert "a DuckDB file, which only one host can open" in failures[0]
    assert not (Path(instance.storage_directory()) / "sqlmesh_runs" / run_id).exists()
