"""A run that selects a thousand models: SQLMesh's selection parser needs room to recurse."""

import pytest
from sqlmesh.core.selector import parse

from {{ cookiecutter.package_name }}.sqlmesh_integration.execution.execution import room_to_select

NAMES = [f"layer_{n // 10}.model_{n}" for n in range(1000)]


def select(names: list[str]) -> object:
    # What SQLMesh does with plan(select_models=...) and run(select_models=...).
    return parse(" | ".join(f"({name})" for name in names))


def test_a_thousand_names_exceed_the_default_recursion_limit():
    with pytest.raises(RecursionError):
        select(NAMES)


def test_with_room_to_select_a_thousand_names_parse():
    with room_to_select(len(NAMES)):
        assert select(NAMES) is not None
