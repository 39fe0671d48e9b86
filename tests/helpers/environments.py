"""A change tried in SQLMesh's dev environment, reviewed and promoted to prod, with the project's make.

Shared by the DuckDB and PostgreSQL tests: the flow and what it must show are
the same, only the warehouse differs. Everything goes through the commands
the README gives (``make run ENV=dev``, ``make plan``, ``make promote``).
"""

from pathlib import Path

from helpers.project import Scratch, probe, run

VIP = "  COALESCE(kept_payments.amount, 0) >= 100 AS is_vip\nFROM staging.stg_customers"
PARTITIONED = ["web/page_views", "web/daily_traffic"]
ORDERS_PLACED = "  COALESCE(per_day.orders_placed, 0) AS orders_placed,\n"


def make(scratch: Scratch, *arguments: str) -> dict:
    """Run ``make ARGUMENTS`` in the project against the scratch warehouse; summarize the run it made."""
    run(["make", *arguments], scratch.project.root, scratch.env())
    return probe(scratch.project.root, scratch.project.package, scratch.env(), "--summarize", "latest")


def columns(scratch: Scratch, schema: str, table: str) -> list[str]:
    rows = scratch.query(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
    )
    return [name for (name,) in rows]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


def evaluated(summary: dict) -> set[str]:
    """Model names (schema.name) SQLMesh evaluated in the run."""
    return {name.split(".", 1)[1] for name in summary["evaluated"]}


def assert_dev_review_promote(scratch: Scratch, prod_built: bool = False) -> None:
    """The flow, from a first run of everything (``prod_built``: the scratch had it already)."""
    models = scratch.sqlmesh_project / "models" / "marts"
    report = scratch.root / "plan.md"
    # prod holds every model of the project (the partitioned ones for a day), so the plans
    # below are about the changes alone. The demo's failures are beside the point here.
    if not prod_built:
        scratch.materialize()
    assert (
        scratch.materialize(select=PARTITIONED, tags={"dagster/partition": "2024-03-01"})["status"]
        == "SUCCESS"
    )
    prod_rows = scratch.query("SELECT * FROM marts.customers ORDER BY customer_id")

    # A change tried in dev: its new version is built there, prod's view shows what it showed.
    edit(
        models / "customers.sql",
        "AS lifetime_value\nFROM staging.stg_customers",
        "AS lifetime_value,\n" + VIP,
    )
    dev = make(scratch, "run", "ENV=dev", "SELECT=marts/customers")
    assert (dev["status"], evaluated(dev)) == ("SUCCESS", {"marts.customers"})
    metadata = dev["materialized"]["marts/customers"]
    assert metadata["sqlmesh/environment"] == "dev"
    assert metadata["dagster/table_name"].endswith("marts__dev.customers")
    assert columns(scratch, "marts__dev", "customers")[-1] == "is_vip"
    assert "is_vip" not in columns(scratch, "marts", "customers")
    assert scratch.query("SELECT * FROM marts.customers ORDER BY customer_id") == prod_rows

    # The plan for prod, reviewed: what changes, how, and that applying it evaluates nothing; with
    # ENV=dev, what the change does to the rows dev built (a data diff), which reads and evaluates nothing.
    reviewed = make(scratch, "plan", f"REPORT={report}", "ENV=dev")
    text = report.read_text()
    assert "### Data diff: `dev` against `prod`" in text
    counts = [
        scratch.query(
            f"SELECT COUNT(*) FROM {left}.customers WHERE customer_id NOT IN "
            f"(SELECT customer_id FROM {right}.customers)"
        )[0][0]
        for left, right in (("marts__dev", "marts"), ("marts", "marts__dev"))
    ]
    rows = scratch.query("SELECT COUNT(*) FROM marts.customers")[0][0]
    # The new column, and no row added, removed or changed in the columns both sides have.
    assert f"| `marts.customers` | {rows} | {rows} | {counts[0]} | {counts[1]} | 0 | +is_vip |" in text
    assert "| directly modified | `marts.customers` | non-breaking |" in text
    assert "| indirectly modified | `marts.customer_segments` | indirect non-breaking |" in text
    assert "+  COALESCE(kept_payments.amount, 0) >= 100 AS is_vip" in text  # the diff
    assert "Applying it evaluates nothing" in text
    (output,) = reviewed["outputs"].values()
    assert (output["sqlmesh/plan"], output["sqlmesh/intervals_to_evaluate"]) == (text, "0")
    assert evaluated(reviewed) == set() and "is_vip" not in columns(scratch, "marts", "customers")

    # Promoted: prod's view shows the version dev built, evaluated again by nobody.
    promoted = make(scratch, "promote")
    assert (promoted["status"], evaluated(promoted)) == ("SUCCESS", set())
    assert (
        promoted["materialized"]["marts/customers"]["sqlmesh/status"] == "promoted to 'prod' (non-breaking)"
    )
    assert columns(scratch, "marts", "customers")[-1] == "is_vip"
    vips = "SELECT customer_id, is_vip FROM {} ORDER BY customer_id"
    assert scratch.query(vips.format("marts.customers")) == scratch.query(vips.format("marts__dev.customers"))

    # A change nothing built yet: the report says what applying it evaluates, and promotion does it.
    edit(
        models / "daily_revenue.sql",
        ORDERS_PLACED,
        ORDERS_PLACED + "  COALESCE(per_day.orders_placed, 0) > 0 AS had_orders,\n",
    )
    report.unlink()
    make(scratch, "plan", f"REPORT={report}")
    assert "Applying it evaluates 1 model(s), over these intervals:" in report.read_text(), report.read_text()
    assert "| `marts.daily_revenue` |" in report.read_text().split("| model | intervals |")[1]
    promoted = make(scratch, "promote")
    assert (promoted["status"], evaluated(promoted)) == ("SUCCESS", {"marts.daily_revenue"})
    assert make(scratch, "plan", f"REPORT={report}")["outputs"]  # and now nothing is left to apply
    assert report.read_text().endswith("nothing to apply.\n")
