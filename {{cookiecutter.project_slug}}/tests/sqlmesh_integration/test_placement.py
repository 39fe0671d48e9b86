"""A step refuses to start under an executor that runs each step on a host of its own.

The steps of a run share its SQLMesh execution through files on one host. Under
dagster-k8s', dagster-docker's or dagster-celery's step executors each step would
start SQLMesh again, so the step fails first, saying what to use instead. The run
below is real; its executor is Dagster's in-process one under the name dagster-celery
gives its executor, which is what a step sees of it (the template's tests run the real
dagster-celery with its workers).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from component_sandbox import components_sandbox, duckdb_project
from dagster import (
    DagsterEventType,
    DagsterInstance,
    execute_job,
    in_process_executor,
    instance_for_test,
    multiprocess_executor,
)
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from {{ cookiecutter.package_name }}.sqlmesh_integration.runs.placement import (
    STEPS_ON_OTHER_HOSTS,
    STEPS_ON_THE_RUNS_HOST,
    steps_elsewhere_failure,
)

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


def test_the_message_names_the_executor_why_and_what_to_use():
    on_duckdb = steps_elsewhere_failure("k8s", "duckdb")
    assert on_duckdb.description.startswith("This run's executor, dagster-k8s's k8s_job_executor ('k8s'),")
    assert "a DuckDB warehouse is one file on one host" in on_duckdb.description
    assert "Use the multiprocess or in_process executor (DAGSTER_EXECUTOR)" in on_duckdb.description
    assert "each would start SQLMesh again" in steps_elsewhere_failure("celery", "postgres").description
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
    assert "a DuckDB warehouse is one file on one host" in failures[0]
    assert not (Path(instance.storage_directory()) / "sqlmesh_runs" / run_id).exists()
