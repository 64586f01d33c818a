"""One settings object, built once at the edge and passed in.

Layers, later ones winning key by key:

1. ``adoptwatch/defaults.toml`` (the only place defaults are written),
2. a user TOML file (``--config FILE``, else ``$ADOPTWATCH_CONFIG``, else
   ``adoptwatch.toml`` in the working directory when it exists),
3. ``ADOPTWATCH_<KEY>`` environment variables (lists are comma-separated),
4. explicit overrides from the command line.

This is the only module that reads the environment for adoptwatch settings.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "ADOPTWATCH_"
USER_FILE = "adoptwatch.toml"


class SettingsError(ValueError):
    """A settings file or variable is missing, malformed or names an unknown key."""


@dataclass(frozen=True)
class Settings:
    # storage
    db: Path
    db_lock_timeout: float
    ingest_wait: float
    write_batch_size: int
    # crawl
    sources: Path
    user_agent: str
    request_deadline: float
    connect_timeout: float
    read_timeout: float
    max_body_bytes: int
    max_page_bytes: int
    max_redirects: int
    max_retries: int
    retry_backoff: float
    max_retry_after: float
    per_host_concurrency: int
    per_host_delay: float
    max_concurrency: int
    respect_robots: bool
    max_entries_per_feed: int
    max_article_attempts: int
    allow_networks: tuple[str, ...]
    max_consecutive_failures: int
    # extraction
    max_page_elements: int
    max_article_chars: int
    spacy_pipeline: str
    # scale-out (adoptwatch ingest --dask-address / --dask-workers)
    dask_address: str
    dask_workers: int
    # schedules (adoptwatch serve, prefect.yaml)
    ingest_cron: str
    digest_cron: str
    serve_port: int
    # digest
    digest_timezone: str
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_ssl: bool
    smtp_user: str
    smtp_password: str = field(repr=False)
    smtp_timeout: float = 30.0
    mail_from: str = ""
    mail_to: tuple[str, ...] = ()
    email_credentials_block: str = ""

    def __post_init__(self) -> None:
        for cidr in self.allow_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise SettingsError(
                    f"allow_networks: {cidr!r} is not a network in CIDR form (e.g. 127.0.0.0/8)"
                ) from exc
        if self.per_host_concurrency < 1 or self.max_concurrency < 1:
            raise SettingsError("per_host_concurrency and max_concurrency must be at least 1")
        if self.write_batch_size < 1:
            raise SettingsError("write_batch_size must be at least 1")
        if self.dask_workers < 0:
            raise SettingsError("dask_workers must be 0 (no local Dask cluster) or more")
        if self.dask_address and self.dask_workers:
            raise SettingsError(
                "dask_address and dask_workers exclude each other: use a running Dask "
                "cluster, or start a local one"
            )
        if not 0 < self.serve_port < 65536:
            raise SettingsError(f"serve_port must be a TCP port (1-65535), got {self.serve_port}")

    def replace(self, **changes: Any) -> Settings:
        """A copy with some keys changed; values are coerced like file values."""
        return _build({**self.as_dict(), **changes}, origin="override")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def redacted(self) -> dict[str, Any]:
        """Settings safe to print or log: secrets are masked."""
        out = self.as_dict()
        if out.get("smtp_password"):
            out["smtp_password"] = "********"
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


def _hints() -> dict[str, Any]:
    return get_type_hints(Settings)


def _coerce(key: str, value: Any, hint: Any, origin: str) -> Any:
    def fail(expected: str) -> SettingsError:
        return SettingsError(f"{origin}: {key} must be {expected}, got {value!r}")

    if hint is Path:
        if not isinstance(value, str | Path):
            raise fail("a path")
        return Path(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise fail("true or false")
    if hint is int:
        if isinstance(value, bool):
            raise fail("a whole number")
        try:
            return int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise fail("a whole number") from None
    if hint is float:
        if isinstance(value, bool):
            raise fail("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise fail("a number") from None
    if hint is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if hint == tuple[str, ...]:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise fail("a list of strings")
    raise SettingsError(f"{origin}: {key} has an unsupported type")  # pragma: no cover


def _build(values: Mapping[str, Any], origin: str) -> Settings:
    hints = _hints()
    coerced = {k: _coerce(k, v, hints[k], origin) for k, v in values.items()}
    missing = [f.name for f in fields(Settings) if f.name not in coerced]
    if missing:
        raise SettingsError(f"{origin}: missing keys {', '.join(missing)}")
    return Settings(**coerced)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(
            f"settings file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known keys are listed in {DEFAULTS_FILE}"
        )
    return data


def load_settings(
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the settings from the defaults file, a user file, the environment and overrides.

    ``env`` defaults to ``os.environ``; pass a dict in tests.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    values: dict[str, Any] = _read_toml(DEFAULTS_FILE)

    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = env[ENV_PREFIX + "CONFIG"]
    if config_file is not None:
        values.update(_read_toml(Path(config_file)))
    elif (cwd / USER_FILE).is_file():
        values.update(_read_toml(cwd / USER_FILE))

    known = {f.name for f in fields(Settings)}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in known:
            values[key] = raw
    settings = _build(values, origin="settings")
    if overrides:
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(clean) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
        settings = _build({**settings.as_dict(), **clean}, origin="command line")
    return settings
