from sqlmesh import signal


@signal()
def always_ready(batch) -> bool:
    """A signal that is always ready: the model behind it is evaluated as usual."""
    return True
