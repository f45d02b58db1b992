"""curators: the library. Pure logic; never imports Prefect (flows/ does the orchestration)."""

__version__ = "0.1.0"
