"""Answer SQL queries through the SQLMesh project's own gateway, and print the rows as JSON.

For warehouses the tests cannot open directly (Spark): SQLMesh's engine adapter
for the gateway, as the project's runs connect. Usage:

    python gateway_query.py PROJECT_DIR SQL [SQL ...]   a list of row lists, one per query
"""

import json
import sys

from sqlmesh import Context


def main() -> None:
    project, *queries = sys.argv[1:]
    adapter = Context(paths=project).engine_adapter
    answers = [[list(row) for row in adapter.fetchall(query)] for query in queries]
    print(json.dumps(answers, default=str))


if __name__ == "__main__":
    main()
