"""The peer harness's adapter, ``optbench.peers_adapter:run`` (see :mod:`optbench.bench.adapter`)."""
from .bench.adapter import run  # noqa: F401
