"""Print, as JSON, the intervals SQLMesh's state holds as filled for each model of an environment.

Runs inside a baked project's virtual environment; SQLMesh's own record, read
without Dagster. Usage:

    python filled_intervals.py PROJECT_DIR [ENVIRONMENT]   {"schema.model": [[start, end], ...]} (ISO, UTC)
"""

import json
import sys

from sqlmesh import Context
from sqlmesh.utils.date import to_datetime


def main() -> None:
    project, environment = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "prod")
    context = Context(paths=project)
    try:
        state = context.state_reader
        found = state.get_environment(environment)
        snapshots = state.get_snapshots(found.snapshots).values() if found else []
        filled = {
            snapshot.node.name: [
                [to_datetime(start).isoformat(), to_datetime(end).isoformat()]
                for start, end in snapshot.intervals
            ]
            for snapshot in snapshots
        }
    finally:
        context.close()
    print(json.dumps(filled, sort_keys=True))


if __name__ == "__main__":
    main()
