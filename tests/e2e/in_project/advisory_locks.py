"""The PostgreSQL advisory locks of a baked project's integration, against a real server; prints JSON.

Runs with the baked project's Python, reaching the server through the
POSTGRES_* variables. Usage: python advisory_locks.py PACKAGE [hold]

- killed: a process of its own holds model "m", the plan lock and the state lock,
  then is killed with SIGKILL; this process waits for each and reports who it
  waited for and how long after the kill it got them.
- in_order: while another session holds "m2", a wait for "m1", "m2", "m3" holds
  "m1" (taken before) but not "m3" (given back until "m2" is free).
- keepalive: the server-side TCP keepalives of a lock session.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from sqlmesh.core.config import DuckDBConnectionConfig, PostgresConnectionConfig

coordination = importlib.import_module(f"{sys.argv[1]}.sqlmesh_integration.execution.coordination")
Coordination, Holder = coordination.Coordination, coordination.Holder

STATE = PostgresConnectionConfig(
    host=os.environ["POSTGRES_HOST"],
    port=int(os.environ["POSTGRES_PORT"]),
    user=os.environ["POSTGRES_USER"],
    password=os.environ["POSTGRES_PASSWORD"],
    database=os.environ["POSTGRES_DB"],
)
WAREHOUSE = DuckDBConnectionConfig()  # no file: only the state's locks are taken


def locks(run_id: str, lines: list[str]):
    """The locks of an execution of run ``run_id`` on the server's SQLMesh state; waits told to ``lines``."""
    return Coordination.for_connections(
        WAREHOUSE, STATE, "sqlmesh", Holder.this_process(run_id), 30, lambda text, _: lines.append(text)
    )


def hold() -> None:
    """Hold model "m", the plan lock and the state lock until killed."""
    holder = locks("run-that-holds", [])
    with holder, holder.models(["m"]), holder.plan(), holder.state_tables():
        print("held", flush=True)
        time.sleep(600)


def killed() -> dict:
    holder = subprocess.Popen(
        [sys.executable, __file__, sys.argv[1], "hold"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    lines: list[str] = []
    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.monotonic())
        os.kill(holder.pid, signal.SIGKILL)

    timer = threading.Timer(1.0, kill)
    timer.start()
    try:
        waiter = locks("run-that-waits", lines)
        with waiter, waiter.models(["m"]) as waited, waiter.plan(), waiter.state_tables():
            got = time.monotonic()
    finally:
        timer.cancel()
        holder.kill()
        holder.wait()
    return {
        "holder_pid": holder.pid,
        "holder_exit": holder.returncode,
        "waited_for": {fqn: [h.run_id, h.pid] for fqn, h in waited.items()},
        "seconds_after_kill": round(got - killed_at[0], 3),
        "lines": lines,
    }


def in_order() -> dict:
    first, second = locks("run-a", []), locks("run-b", [])
    seen: dict = {}
    with first, second:
        thread = threading.Thread(target=lambda: seen.update(held=_hold_all(second)))
        with first.models(["m2"]):
            thread.start()
            time.sleep(1.5)
            seen["while_waiting"] = _granted(first)
        thread.join()
    observer = locks("run-observer", [])
    with observer:
        seen["after"] = _granted(observer)
    return seen


def _hold_all(coordination) -> dict:
    with coordination.models(["m1", "m2", "m3"]) as waited:
        return {"waited_for": sorted(waited), "granted": _granted(coordination)}


def _granted(coordination) -> list:
    """The advisory locks granted on the server, by session (application_name)."""
    rows = coordination.advisory.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted ORDER BY 1"
    )
    return [name.split(" p=")[0] for (name,) in rows]


def keepalive() -> dict:
    session = locks("run-k", [])
    with session, session.plan():
        return {
            setting: session.advisory.execute(f"SHOW {setting}")[0][0]
            for setting in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
        }


if __name__ == "__main__":
    if sys.argv[2:] == ["hold"]:
        hold()
    else:
        print(json.dumps({"killed": killed(), "in_order": in_order(), "keepalive": keepalive()}))
