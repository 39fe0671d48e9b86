"""The translator: every Dagster name the integration makes, from real SQLMesh models."""

from dagster import AssetKey
from sqlmesh.core.dialect import parse
from sqlmesh.core.model import Model, load_sql_based_model

from {{ cookiecutter.package_name }}.sqlmesh_integration import AuditIdentity, SQLMeshTranslator, is_asset_model

translator = SQLMeshTranslator()


def model(sql: str) -> Model:
    return load_sql_based_model(
        parse(sql, default_dialect="duckdb"), dialect="duckdb", default_catalog="warehouse"
    )


AUDITED = model(
    """
    MODEL (
      name marts.orders,
      kind FULL,
      owner 'data team',
      tags (daily, 'needs review'),
      audits (
        not_null(columns := (order_id, customer_id)),
        not_null(columns := (amount)),
        unique_values(columns := (order_id), blocking := false),
        accepted_range_non_blocking(column := amount, min_v := 0),
        number_of_rows(threshold := 1)
      )
    );
    SELECT 1 AS order_id, 2 AS customer_id, 3.0 AS amount
    """
)


def test_asset_key_is_schema_and_name_without_the_default_catalog():
    assert translator.get_asset_key(AUDITED.fqn) == AssetKey(["marts", "orders"])
    assert translator.get_asset_key("raw.events") == AssetKey(["raw", "events"])


def test_a_model_in_another_catalog_keeps_it_in_its_key():
    # The factory tells the translator which catalog is the project's default.
    in_project = translator.for_catalog("warehouse")
    assert in_project.get_asset_key('"warehouse"."marts"."orders"') == AssetKey(["marts", "orders"])
    assert in_project.get_asset_key('"archive"."marts"."orders"') == AssetKey(["archive", "marts", "orders"])
    assert translator.default_catalog is None  # the copy is configured, not the original


def test_group_owner_and_tags():
    assert translator.get_group_name(AUDITED) == "marts"
    assert translator.get_owners(AUDITED) == ["team:data_team"]
    assert translator.get_tags(AUDITED) == {"daily": "", "needs_review": ""}


def test_an_audit_used_once_is_named_after_the_audit():
    names = [use.check_name for use in translator.get_audit_uses(AUDITED)]
    assert names[2:] == ["unique_values", "accepted_range_non_blocking", "number_of_rows"]


def test_an_audit_used_twice_is_named_by_its_arguments():
    uses = translator.get_audit_uses(AUDITED)
    assert [use.check_name for use in uses[:2]] == ["not_null__order_id__customer_id", "not_null__amount"]
    assert uses[0].identity == AuditIdentity("not_null", "columns=(order_id, customer_id)")


def test_checks_block_exactly_when_sqlmesh_does():
    blocking = {use.check_name: use.blocking for use in translator.get_audit_uses(AUDITED)}
    assert blocking == {
        "not_null__order_id__customer_id": True,
        "not_null__amount": True,
        "unique_values": False,  # `blocking := false` on the model
        "accepted_range_non_blocking": False,  # a _non_blocking built-in
        "number_of_rows": True,
    }


def test_check_names_stay_unique_when_arguments_read_the_same():
    twice = model(
        """
        MODEL (name s.t, kind FULL, audits (forall(criteria := (a > 0)), forall(criteria := (a >= 0))));
        SELECT 1 AS a
        """
    )
    names = [use.check_name for use in translator.get_audit_uses(twice)]
    assert names == ["forall__a__0", "forall__a__0_2"]


def test_a_custom_check_name_is_used_for_every_use():
    class Prefixed(SQLMeshTranslator):
        def get_check_name(self, model: Model, audit: AuditIdentity, used_more_than_once: bool) -> str:
            return "sqlmesh_" + super().get_check_name(model, audit, used_more_than_once)

    assert [use.check_name for use in Prefixed().get_audit_uses(AUDITED)][:3] == [
        "sqlmesh_not_null__order_id__customer_id",
        "sqlmesh_not_null__amount",
        "sqlmesh_unique_values",
    ]


def test_only_models_with_a_table_of_their_own_are_assets():
    assert is_asset_model(AUDITED)
    assert not is_asset_model(model("MODEL (name s.inlined, kind EMBEDDED); SELECT 1 AS a"))
    assert not is_asset_model(model("MODEL (name s.source, kind EXTERNAL); SELECT 1 AS a"))
