"""The selections an execution hands to SQLMesh: ``*`` only where it selects exactly the named models.

Each test loads a real SQLMesh project on a DuckDB file and applies real plans.
"""

from collections.abc import Collection
from pathlib import Path

import duckdb
import pytest
from small_projects import numbered_project
from sqlmesh import Context

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.selectors import (
    EVERY_MODEL,
    plan_selection,
    run_selection,
)

SOURCE_UNAUDITED = "- name: landing.orders\n  columns:\n    id: int\n"
SOURCE_AUDITED = SOURCE_UNAUDITED + "  audits:\n    - name: not_null\n      columns: '[id]'\n"


def project_with(tmp_path: Path, models: int, external: str | None = None) -> Path:
    """A project of ``models`` FULL models, ``s.m0`` reading the external source when there is one."""
    if external is None:
        return numbered_project(tmp_path, models)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as warehouse:
        warehouse.execute("CREATE SCHEMA landing; CREATE TABLE landing.orders AS SELECT 1 AS id")
    project = numbered_project(tmp_path, models, first_reads="landing.orders")
    (project / "external_models.yaml").write_text(external)
    return project


def names_by_fqn(context: Context, fqns: Collection[str] | None = None) -> dict[str, str]:
    return {fqn: model.name for fqn, model in context.models.items() if fqns is None or fqn in fqns}


def deployed(context: Context) -> None:
    context.plan("prod", auto_apply=True, no_prompts=True, skip_tests=True, skip_linter=True)


def prod(context: Context):
    return context.state_reader.get_environment("prod")


def test_a_plan_of_every_model_selects_them_as_one_wildcard(tmp_path):
    context = Context(paths=str(project_with(tmp_path, 3)))
    assert plan_selection(context, names_by_fqn(context), [None, None]) == [EVERY_MODEL]


def test_a_plan_of_some_models_names_them(tmp_path):
    context = Context(paths=str(project_with(tmp_path, 3)))
    some = names_by_fqn(context, [fqn for fqn in context.models if not fqn.endswith('"m2"')])
    assert plan_selection(context, some, [None, None]) == ["s.m0", "s.m1"]


def test_a_plan_names_its_models_while_the_environment_holds_one_the_project_no_longer_has(tmp_path):
    """``*`` would select the deleted model too, and the plan would remove it from the environment."""
    project = project_with(tmp_path, 3)
    first = Context(paths=str(project))
    deployed(first)
    first.close()
    (project / "models" / "m2.sql").unlink()
    context = Context(paths=str(project))
    assert plan_selection(context, names_by_fqn(context), [prod(context), None]) == ["s.m0", "s.m1"]
    assert plan_selection(context, names_by_fqn(context), [None, prod(context)]) == ["s.m0", "s.m1"]


@pytest.mark.parametrize(
    ("external", "expected"),
    [(None, [EVERY_MODEL]), (SOURCE_UNAUDITED, [EVERY_MODEL]), (SOURCE_AUDITED, ["s.m0", "s.m1"])],
    ids=["no source", "a source without audits", "a source with an audit"],
)
def test_a_run_of_every_model_the_environment_evaluates_selects_them_as_one_wildcard(
    tmp_path, external, expected
):
    """A source with an audit has intervals: ``*`` would have SQLMesh's run audit it as well."""
    context = Context(paths=str(project_with(tmp_path, 2, external)))
    deployed(context)
    built = names_by_fqn(
        context, [fqn for fqn, model in context.models.items() if not model.kind.is_external]
    )
    assert sorted(run_selection(context, prod(context), built)) == expected


def test_a_run_of_some_models_names_them(tmp_path):
    context = Context(paths=str(project_with(tmp_path, 3)))
    deployed(context)
    some = names_by_fqn(context, [fqn for fqn in context.models if not fqn.endswith('"m2"')])
    assert sorted(run_selection(context, prod(context), some)) == ["s.m0", "s.m1"]
    assert sorted(run_selection(context, None, some)) == ["s.m0", "s.m1"]
