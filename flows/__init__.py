"""Prefect flows: each reads like a table of contents of plain functions from
``adoptwatch.pipeline`` and ``adoptwatch.digest``, wrapped as tasks.

Each flow takes the :class:`~adoptwatch.settings.Settings` object when its caller has one
(the CLI), or builds it on the worker from the environment and a ``config`` file (a
deployment: Prefect stores flow parameters, and the settings hold the SMTP password,
which is why a Settings object is serialised without it).
"""

from __future__ import annotations

from typing import Any

from adoptwatch.settings import Settings, load_settings


def run_settings(
    settings: Settings | None,
    config: str | None,
    overrides: dict[str, Any] | None = None,
    **parameters: Any,
) -> Settings:
    """The settings of a flow run: ``settings`` when given, else the worker's (its
    environment and ``config`` file); then ``overrides`` and the flow's own parameters,
    where given (``None``: not given)."""
    base = settings if settings is not None else load_settings(config)
    changes = {**(overrides or {}), **{k: v for k, v in parameters.items() if v is not None}}
    return base.replace(**changes) if changes else base
