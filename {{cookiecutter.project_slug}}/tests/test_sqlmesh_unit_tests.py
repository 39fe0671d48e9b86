"""SQLMesh's own unit tests (sqlmesh_project/tests/*.yaml) pass."""

from {{ cookiecutter.package_name }}.definitions import sqlmesh


def test_sqlmesh_unit_tests_pass():
    """Every unit test SQLMesh finds in the project runs and passes{% if cookiecutter.sqlmesh_project_path %} (a project without any passes){% endif %}."""
    context = sqlmesh.load_context()
    result = context.test()
{%- if cookiecutter.sqlmesh_project_path %}
    assert result.testsRun == len(context.select_tests())
{%- else %}
    assert result.testsRun == len(context.select_tests()) > 0
{%- endif %}
    assert result.wasSuccessful(), [str(error) for _, error in result.failures + result.errors]
