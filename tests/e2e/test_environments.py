"""SQLMesh environments through the project's make: try a change in dev, review the plan, promote it.

On DuckDB here; ``test_postgres.py`` runs the same flow on PostgreSQL.
"""

import pytest
from helpers.environments import assert_dev_review_promote

pytestmark = pytest.mark.e2e


def test_a_change_tried_in_dev_is_reviewed_then_promoted_without_evaluating_it_again(
    starter_project, tmp_path
):
    assert_dev_review_promote(starter_project.scratch(tmp_path, copy_sqlmesh_project=True))
