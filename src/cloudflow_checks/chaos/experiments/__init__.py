"""The experiments, in game-day order (cheapest and least disruptive first)."""
from __future__ import annotations

from ..runner import Experiment
from .cache import SlowDatabaseBehindCache
from .db_partition import DatabasePartition
from .db_pool import SlowDatabasePoolExhaustion
from .partner import FailingPartnerApi
from .request_cap import RequestCap
from .resets import ConnectionResets

ORDER: tuple[type[Experiment], ...] = (SlowDatabaseBehindCache, FailingPartnerApi, ConnectionResets,
                                       DatabasePartition, SlowDatabasePoolExhaustion, RequestCap)
EXPERIMENTS: dict[str, type[Experiment]] = {cls.name: cls for cls in ORDER}


def get(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]()
    except KeyError:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}") from None
