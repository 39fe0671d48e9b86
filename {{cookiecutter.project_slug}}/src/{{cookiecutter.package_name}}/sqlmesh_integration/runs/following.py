"""Following a run's SQLMesh execution from a step: its model's lines, then its model's outcome.

Every step of the run, the one that started the execution included, reads
the execution's stream (see :mod:`..execution.execution_stream`) until its own model's
outcome is there, logging the lines about its model as they come. A step
in the process that owns the execution also logs the lines about the
execution as a whole.
"""

import time
from collections.abc import Callable

from dagster import Failure

from ..execution.execution_stream import LogLine, StreamState
from .ownership import OWNER_CHECK_SECONDS, owned_here
from .store import Claim


def follow(claim: Claim, fqn: str | None, log: Callable[[str], None]) -> StreamState:
    """Read the execution's stream until ``fqn``'s outcome is there (``None``: until it ends).

    Fails if the process that owns the execution is gone without ending it;
    stops the execution if this process owns it and the step is interrupted.
    """
    reader = claim.store.reader(claim)
    owned = owned_here(claim)
    logged = 0
    last_owner_check = time.monotonic()
    try:
        while True:
            state = reader.read()
            own_lines = state.lines_about.get(fqn, []) if fqn is not None else []
            if logged < len(own_lines):
                log(one_message(own_lines[logged:]))
            logged = len(own_lines)
            if owned is not None:
                owned.log_general_lines(state, log)
            if (fqn is not None and fqn in state.outcomes) or state.end is not None:
                return state
            if time.monotonic() - last_owner_check > OWNER_CHECK_SECONDS:
                last_owner_check = time.monotonic()
                if not claim.store.owner_alive(claim) and reader.read().end is None:
                    raise Failure(
                        f"The process that was executing SQLMesh for this run ({claim.describe_owner()}) "
                        "stopped before it ended its execution. Re-execute the run (from failure) to "
                        "execute SQLMesh again; SQLMesh's own state says which intervals were completed.",
                        allow_retries=False,
                    )
            time.sleep(claim.store.poll_seconds)
    except BaseException:
        # Interrupted (the run was terminated): SQLMesh must not go on once the run is over.
        if owned is not None and reader.read().end is None:
            owned.execution.stop()
        raise


def one_message(lines: list[LogLine]) -> str:
    """The lines read in one go, as one log message: each Dagster log event costs a write.

    An interim line followed by another is left out (the later line says more).
    """
    last = len(lines) - 1
    return "\n".join(line.text for i, line in enumerate(lines) if not (line.interim and i < last))
