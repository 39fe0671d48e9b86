"""SQLMesh's own unit tests (sqlmesh_project/tests/*.yaml) pass."""

from {{ cookiecutter.package_name }}.definitions import sqlmesh


def test_sqlmesh_unit_tests_pass():
    result = sqlmesh.load_context().test()
    assert result.testsRun > 0
    assert result.wasSuccessful(), [str(error) for _, error in result.failures + result.errors]
