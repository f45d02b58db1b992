"""Thin Prefect orchestration over `curators`. Importing this package does not import Prefect:
each flow module does, and the CLI imports a flow module only inside the command that runs it."""
