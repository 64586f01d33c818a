"""One declaration of the deployments: prefect.yaml and `adoptwatch serve` read the same specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from adoptwatch.cli import main
from adoptwatch.flows.deployments import CHECKOUT_VARIABLE, deployment_specs, prefect_yaml
from adoptwatch.settings import SettingsError, load_settings
from tests.conftest import REPO


def default_yaml(tmp_path: Path) -> str:
    return prefect_yaml(deployment_specs(load_settings(env={}, cwd=tmp_path)))


def test_committed_prefect_yaml_is_the_generated_one(tmp_path: Path) -> None:
    committed = (REPO / "prefect.yaml").read_text()
    assert committed == default_yaml(tmp_path), (
        "prefect.yaml is stale: run `adoptwatch deployments --write prefect.yaml`"
    )


def test_prefect_yaml_declares_pool_schedules_limit_and_pull_step(tmp_path: Path) -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    document = yaml.safe_load(default_yaml(tmp_path))
    PrefectYamlModel.model_validate(document)  # the shape `prefect deploy` accepts
    by_name = {d["name"]: d for d in document["deployments"]}
    assert set(by_name) == {"ingest", "digest", "reextract", "maintain"}
    assert {d["work_pool"]["name"] for d in by_name.values()} == {"adoptwatch"}
    assert by_name["ingest"]["schedules"] == [
        {"cron": "0 * * * *", "timezone": "UTC", "active": True}
    ]
    assert by_name["digest"]["schedules"] == [
        {"cron": "0 8 * * 1", "timezone": "UTC", "active": True}
    ]
    assert by_name["reextract"]["schedules"] == []
    assert by_name["maintain"]["schedules"] == [
        {"cron": "30 3 * * *", "timezone": "UTC", "active": True}
    ]
    assert by_name["maintain"]["concurrency_limit"]["limit"] == 1
    assert by_name["ingest"]["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert "concurrency_limit" not in by_name["digest"]
    for entry in by_name.values():
        path, function = entry["entrypoint"].split(":")
        assert f"def {function}(" in (REPO / path).read_text(), entry["entrypoint"]
    assert document["pull"] == [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $" + CHECKOUT_VARIABLE + " }}"
            }
        }
    ]


def test_settings_move_both_consumers_together(tmp_path: Path) -> None:
    (tmp_path / "adoptwatch.toml").write_text(
        'ingest_cron = "*/15  * * * *"\ndigest_cron = "30 7 * * 1"\n'
        'digest_timezone = "Europe/Berlin"\n'
    )
    specs = deployment_specs(load_settings(env={}, cwd=tmp_path))
    document = yaml.safe_load(prefect_yaml(specs))
    schedules = {d["name"]: d["schedules"] for d in document["deployments"]}
    assert schedules["ingest"] == [
        {"cron": "*/15 * * * *", "timezone": "Europe/Berlin", "active": True}
    ]
    assert schedules["digest"][0]["cron"] == "30 7 * * 1"

    from adoptwatch.flows.deployments import runner_deployments

    served = {d.name: d for d in runner_deployments(specs)}
    for entry in document["deployments"]:
        deployment = served[entry["name"]]
        crons = [
            {"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active}
            for s in deployment.schedules or []
        ]
        assert crons == entry["schedules"], entry["name"]
        assert deployment.parameters == entry["parameters"]
        # the same flow: flows/ingest.py:ingest_flow is served as
        # adoptwatch.flows.ingest.ingest_flow
        module_path = entry["entrypoint"].replace("/", ".").replace(".py:", ".")
        assert deployment.entrypoint == "adoptwatch." + module_path
    ingest = served["ingest"]
    assert ingest.concurrency_limit == 1
    assert ingest.concurrency_options.collision_strategy.value == "ENQUEUE"
    assert served["digest"].concurrency_limit is None


def test_an_empty_cron_means_no_schedule(tmp_path: Path) -> None:
    specs = deployment_specs(load_settings(env={"ADOPTWATCH_INGEST_CRON": ""}, cwd=tmp_path))
    ingest = next(s for s in specs if s.name == "ingest")
    assert ingest.cron is None
    document = yaml.safe_load(prefect_yaml(specs))
    assert next(d for d in document["deployments"] if d["name"] == "ingest")["schedules"] == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADOPTWATCH_DIGEST_CRON": "every monday"}, "digest_cron"),
        ({"ADOPTWATCH_INGEST_CRON": "0 * * *"}, "ingest_cron"),
        ({"ADOPTWATCH_DIGEST_TIMEZONE": "Mars/Olympus"}, "Mars/Olympus"),
    ],
)
def test_bad_schedules_are_clear_errors(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        deployment_specs(load_settings(env=env, cwd=tmp_path))


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_deployments_command_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "prefect.yaml"
    assert cli("deployments", "--check", str(target)).exit_code == 1
    written = cli("deployments", "--write", str(target))
    assert written.exit_code == 0, written.output
    assert target.read_text() == default_yaml(tmp_path)
    assert cli("deployments", "--check", str(target)).exit_code == 0
    printed = cli("deployments")
    assert printed.output == target.read_text()

    stale = cli("deployments", "--check", str(target), ADOPTWATCH_INGEST_CRON="5 * * * *")
    assert stale.exit_code == 1
    assert "out of date" in stale.output and "--write" in stale.output

    bad = cli("serve", ADOPTWATCH_DIGEST_CRON="every monday")
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: digest_cron") and "Traceback" not in bad.output


def test_ingest_takes_one_dask_option_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    both = cli("ingest", "--dask-address", "tcp://127.0.0.1:1", "--dask-workers", "2")
    assert both.exit_code == 2 and "not both" in both.output
