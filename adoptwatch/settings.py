"""One settings object, built once at the edge and passed in.

Layers, later ones winning key by key:

1. ``adoptwatch/defaults.toml`` (the only place defaults are written),
2. a user TOML file (``--config FILE``, else ``$ADOPTWATCH_CONFIG``, else
   ``adoptwatch.toml`` in the working directory when it exists),
3. ``ADOPTWATCH_<KEY>`` environment variables (lists are comma-separated),
4. explicit overrides from the command line.

pydantic-settings reads the files and the environment and validates the types;
:func:`load_settings` stacks the layers and names the key (and the layer it came from)
in every error. This is the only module that reads the environment for adoptwatch
settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from adoptwatch.errors import AdoptwatchError

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "ADOPTWATCH_"
USER_FILE = "adoptwatch.toml"

Strings = Annotated[tuple[str, ...], NoDecode]  # from the environment: comma-separated

# Ranges, checked before anything starts: a negative cap or a NaN deadline would
# otherwise make every fetch fail with a confusing message (and count towards
# disabling every source). Durations stop at about 11 days so that no sleep overflows.
MAX_SECONDS = 1_000_000.0
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
PositiveCount = Annotated[int, Field(ge=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
# Up to a century: further back than any snapshot, and no date arithmetic overflows.
Days = Annotated[float, Field(ge=0, le=36_500, allow_inf_nan=False)]
# DuckDB's memory_limit: a size with a unit (percentages of RAM are not accepted: the
# point is a bound that does not grow with the machine).
MEMORY_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(K|M|G|T)i?B\s*$", re.IGNORECASE)


class SettingsError(AdoptwatchError):
    """A settings file or variable is missing, malformed or names an unknown key."""


class Settings(BaseSettings):
    """Every setting; what each means is written in ``adoptwatch/defaults.toml``."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix=ENV_PREFIX)

    # storage
    db: str  # a file path, or a DuckLake URL (storage.lake)
    lake_data_path: str
    db_lock_timeout: Seconds
    ingest_wait: Seconds
    write_batch_size: PositiveCount
    lease_seconds: PositiveSeconds
    maintain_cron: str
    keep_snapshots_days: Days
    # adoptwatch query
    query_timeout: Seconds
    query_memory_limit: str
    query_max_rows: PositiveCount
    # adoptwatch web
    web_host: str
    web_port: Annotated[int, Field(ge=0, le=65535)]
    web_keep_open: Seconds
    # crawl
    sources: Path
    user_agent: str
    request_deadline: PositiveSeconds
    connect_timeout: PositiveSeconds
    read_timeout: PositiveSeconds
    max_body_bytes: PositiveCount
    max_page_bytes: PositiveCount
    max_redirects: Count
    max_retries: Count
    retry_backoff: Seconds
    max_retry_after: Seconds
    per_host_concurrency: PositiveCount
    per_host_delay: Seconds
    max_concurrency: PositiveCount
    respect_robots: bool
    max_entries_per_feed: PositiveCount
    max_article_attempts: PositiveCount
    allow_networks: Strings
    max_consecutive_failures: Count
    # extraction
    max_page_elements: PositiveCount
    max_article_chars: PositiveCount
    spacy_pipeline: str
    # story clusters (storage.clusters): below 0.4 the LSH bands of
    # extractors.story_signatures miss too many candidates to honour the threshold
    story_cluster_threshold: Annotated[float, Field(ge=0.4, le=1.0, allow_inf_nan=False)]
    story_cluster_window_days: Annotated[float, Field(ge=1, le=3650, allow_inf_nan=False)]
    # scale-out (adoptwatch ingest --dask-address / --dask-workers)
    dask_address: str
    dask_workers: Count
    # schedules (adoptwatch serve, prefect.yaml)
    ingest_cron: str
    ingest_concurrency: PositiveCount
    digest_cron: str
    serve_port: Port
    # digest
    digest_timezone: str
    smtp_host: str
    smtp_port: Port
    smtp_starttls: bool
    smtp_ssl: bool
    smtp_user: str
    # Never printed, and left out when the settings are serialised (Prefect stores flow
    # parameters): the only way to the password is the attribute.
    smtp_password: str = Field(repr=False, exclude=True)
    smtp_timeout: PositiveSeconds
    mail_from: str
    mail_to: Strings
    email_credentials_block: str
    # alerts
    alert_email: bool
    # A Slack webhook URL is a secret (whoever has it can post): kept out of reprs and
    # serialised settings like the password.
    alert_webhook_url: str = Field(repr=False, exclude=True)
    alert_webhook_timeout: PositiveSeconds
    alert_webhook_retries: Annotated[int, Field(ge=0, le=10)]
    alert_webhook_backoff: Seconds
    alert_max_attempts: Annotated[int, Field(ge=1, le=100)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the values handed over: load_settings() stacks the layers itself, so that
        # tests can hand it an environment and a working directory.
        return (init_settings,)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_values(cls, value: Any, info: Any) -> Any:
        kind = cls.model_fields[info.field_name].annotation
        if kind is str and isinstance(value, Path):
            return str(value)  # db: a file path given as a Path
        if kind is bool and isinstance(value, str):
            return value.strip().lower() or False  # an empty variable is false
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError("a number, not true or false")
        if kind == tuple[str, ...] and isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"allow_networks: {cidr!r} is not a network in CIDR form (e.g. 127.0.0.0/8)"
                ) from None
        return value

    @field_validator("query_memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if not MEMORY_SIZE.match(value):
            raise ValueError(
                f"query_memory_limit: {value[:40]!r} is not a size such as 1GB or 500MiB"
            )
        return value.strip()

    @field_validator("user_agent")
    @classmethod
    def _header_value(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(
                "user_agent: must be one line of text without control characters, "
                f"got {value[:80]!r}"
            )
        return value

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(
                "alert_webhook_url: must be an http(s) URL such as "
                f"https://hooks.slack.com/services/..., got {value[:80]!r}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if not str(self.db).strip():
            raise ValueError("db must name a DuckDB file or a ducklake: URL")
        if self.dask_address and self.dask_workers:
            raise ValueError(
                "dask_address and dask_workers exclude each other: use a running Dask "
                "cluster, or start a local one"
            )
        return self

    def replace(self, **changes: Any) -> Settings:
        """A copy with some keys changed; values are checked like file values."""
        return _validated({**self.as_dict(), **changes}, {key: "override" for key in changes})

    def allowing(self, networks: tuple[str, ...] | list[str]) -> Settings:
        """A copy that may also connect into ``networks`` (CIDRs), after those it has."""
        if not networks:
            return self
        return self.replace(allow_networks=tuple(dict.fromkeys((*self.allow_networks, *networks))))

    def as_dict(self) -> dict[str, Any]:
        """Every key with its value, the password included."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def redacted(self) -> dict[str, Any]:
        """Settings safe to print or log: secrets are masked."""
        out = self.as_dict()
        if out.get("smtp_password"):
            out["smtp_password"] = "********"
        if out.get("alert_webhook_url"):
            out["alert_webhook_url"] = re.sub(
                r"(://[^/]+/).*", r"\1********", out["alert_webhook_url"]
            )
        # A PostgreSQL conninfo in db may carry a password.
        out["db"] = re.sub(r"(password=)\S+", r"\1********", str(out["db"]))
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


class _Environment(EnvSettingsSource):
    """``ADOPTWATCH_<KEY>`` variables, read from ``environ`` (a test passes a dict).

    Overrides the hook pydantic-settings' own dotenv source overrides for the same
    purpose: where the variables come from.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


_EXPECTED = {
    Path: "a path",
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    tuple[str, ...]: "a list of strings",
}


def _validated(values: Mapping[str, Any], origins: Mapping[str, str]) -> Settings:
    """``Settings(**values)``, with a validation error turned into one line that names the
    key and where its value came from."""
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
    missing = [name for name in Settings.model_fields if name not in values]
    if missing:
        raise SettingsError(f"settings: missing keys {', '.join(missing)}")
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule between keys (the model validator)
            raise SettingsError(message) from None
        key = str(error["loc"][0])
        if message.startswith(f"{key}:"):  # a validator's own message names the key
            raise SettingsError(f"{origins.get(key, 'settings')}: {message}") from None
        expected = _EXPECTED.get(Settings.model_fields[key].annotation, "valid")
        limits = {k: _number(v) for k, v in error.get("ctx", {}).items()}
        rule = _RULES.get(error["type"], "").format(**limits)
        raise SettingsError(
            f"{origins.get(key, 'settings')}: {key} must be {expected}{rule}, "
            f"got {_shown(error.get('input', values.get(key)))}"
        ) from None


# pydantic's error types for the ranges above, as the end of "KEY must be a number ...".
_RULES = {
    "greater_than": " more than {gt}",
    "greater_than_equal": " of at least {ge}",
    "less_than_equal": " of at most {le}",
    "finite_number": " (finite, not nan or inf)",
}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut short: a value can be megabytes long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"settings file {path} does not exist")
    try:
        data: dict[str, Any] = TomlConfigSettingsSource(Settings, toml_file=path).toml_data
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"settings file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
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

    ``env`` defaults to ``os.environ``; pass a dict in tests. ``None`` in ``overrides``
    means "not given" (an unset command-line flag).
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = env[ENV_PREFIX + "CONFIG"]
    user_file = Path(config_file) if config_file is not None else cwd / USER_FILE
    layers: list[tuple[str, Mapping[str, Any]]] = [(str(DEFAULTS_FILE), _read_toml(DEFAULTS_FILE))]
    if config_file is not None or user_file.is_file():
        layers.append((str(user_file), _read_toml(user_file)))
    layers.append(("environment", _Environment(Settings, env)()))
    layers.append(("command line", {k: v for k, v in (overrides or {}).items() if v is not None}))

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, layer in layers:
        for key, value in layer.items():
            values[key] = value
            origins[key] = ENV_PREFIX + key.upper() if origin == "environment" else origin
    return _validated(values, origins)
