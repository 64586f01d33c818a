from __future__ import annotations

from pathlib import Path

import pytest

from adoptwatch.settings import DEFAULTS_FILE, SettingsError, load_settings


def test_defaults_come_from_the_defaults_file(tmp_path: Path) -> None:
    s = load_settings(env={}, cwd=tmp_path)
    assert s.db == "data/adoptwatch.duckdb"
    assert s.sources == Path("sources.toml")
    assert s.respect_robots is True
    assert s.allow_networks == ()


def test_user_file_overrides_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "adoptwatch.toml").write_text('db = "x.duckdb"\nper_host_delay = 3\n')
    s = load_settings(env={}, cwd=tmp_path)
    assert s.db == "x.duckdb" and s.per_host_delay == 3.0
    assert s.max_retries == load_settings(env={}, cwd=tmp_path / "nowhere").max_retries


def test_env_overrides_file_and_lists_split_on_commas(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('db = "file.duckdb"\n')
    env = {
        "ADOPTWATCH_CONFIG": str(cfg),
        "ADOPTWATCH_DB": "env.duckdb",
        "ADOPTWATCH_ALLOW_NETWORKS": "127.0.0.0/8, 10.0.0.0/8",
        "ADOPTWATCH_RESPECT_ROBOTS": "false",
        "ADOPTWATCH_SMTP_PORT": "2525",
    }
    s = load_settings(env=env, cwd=tmp_path)
    assert s.db == "env.duckdb"
    assert s.allow_networks == ("127.0.0.0/8", "10.0.0.0/8")
    assert s.respect_robots is False and s.smtp_port == 2525


def test_overrides_win_and_none_means_unset(tmp_path: Path) -> None:
    s = load_settings(env={"ADOPTWATCH_DB": "env.duckdb"}, cwd=tmp_path, overrides={"db": None})
    assert s.db == "env.duckdb"
    s = load_settings(env={"ADOPTWATCH_DB": "env.duckdb"}, cwd=tmp_path, overrides={"db": "o.db"})
    assert s.db == "o.db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADOPTWATCH_SMTP_PORT": "twenty"}, "smtp_port must be a whole number"),
        ({"ADOPTWATCH_RESPECT_ROBOTS": "maybe"}, "respect_robots must be true or false"),
        ({"ADOPTWATCH_ALLOW_NETWORKS": "not-a-cidr"}, "not a network in CIDR form"),
    ],
)
def test_bad_values_say_what_is_wrong(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env, cwd=tmp_path)


def test_unknown_keys_in_a_file_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("per_hots_delay = 1\n")
    with pytest.raises(SettingsError, match=r"unknown key.*per_hots_delay"):
        load_settings(cfg, env={}, cwd=tmp_path)


def test_password_is_redacted_and_not_in_repr(tmp_path: Path) -> None:
    s = load_settings(env={"ADOPTWATCH_SMTP_PASSWORD": "hunter2"}, cwd=tmp_path)
    assert s.smtp_password == "hunter2"
    assert "hunter2" not in repr(s)
    assert s.redacted()["smtp_password"] == "********"


def test_every_settings_key_is_in_the_defaults_file() -> None:
    import tomllib

    from adoptwatch.settings import Settings

    defaults = tomllib.loads(DEFAULTS_FILE.read_text())
    assert set(defaults) == set(Settings.model_fields)
