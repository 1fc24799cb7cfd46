"""Settings: TOML + env, one clear error naming the key, exit code 2 from the CLIs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import DEFAULT_DB_URL, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.database.url == DEFAULT_DB_URL
    assert settings.collectors.interval_s == 15
    assert not settings.has_sources


def test_example_file_is_valid() -> None:
    settings = load_settings(ROOT / "castmeter.example.toml", env={})
    assert settings.livekit[0].name == "main"
    assert settings.prometheus[0].url == "http://127.0.0.1:9090"


def test_environment_overrides_file() -> None:
    env = {
        "CASTMETER_DB_URL": "postgresql+psycopg://u@127.0.0.1/db",
        "LIVEKIT_URL": "wss://x.livekit.cloud",
        "LIVEKIT_API_KEY": "APIkey",
        "LIVEKIT_API_SECRET": "s3cr3t-value-xyz",
        "PROMETHEUS_URL": "http://127.0.0.1:9999",
    }
    settings = load_settings(ROOT / "castmeter.example.toml", env=env)
    assert settings.database.url.startswith("postgresql+psycopg://")
    assert settings.livekit[0].url == "wss://x.livekit.cloud"
    assert settings.livekit[0].api_secret.get_secret_value() == "s3cr3t-value-xyz"
    assert settings.prometheus[0].url == "http://127.0.0.1:9999"


def test_env_alone_configures_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        env={
            "LIVEKIT_URL": "http://127.0.0.1:7880",
            "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "secret-secret",
        }
    )
    assert settings.livekit[0].name == "livekit"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[collectors]\ninterval_s = -1\n", "collectors.interval_s"),
        ('[database]\nurl = "mysql://x"\n', "database.url"),
        ('[dashboard]\ntimezone = "Mars/Olympus"\n', "dashboard.timezone"),
        ('[[livekit]]\nname = "a"\nurl = "ftp://x"\napi_key = "k"\napi_secret = "s"\n', "livekit.0.url"),
        ('[[prometheus]]\nname = "p"\nurl = "http://x"\nrate_window = "soon"\n', "prometheus.0.rate_window"),
        ("[collectors]\nintervall_s = 3\n", "collectors.intervall_s"),
    ],
)
def test_invalid_value_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert key in str(info.value)


def test_a_name_shared_by_two_kinds_of_source_is_refused(tmp_path: Path) -> None:
    # One sources row per name: a LiveKit and a Prometheus source named alike would share the
    # row's kind and health (the Nodes page then says no Prometheus source exists).
    livekit = '[[livekit]]\nname = "prod"\nurl = "http://127.0.0.1:7880"\napi_key = "k"\napi_secret = "s"\n'
    path = tmp_path / "same.toml"
    path.write_text(livekit + '[[prometheus]]\nname = "prod"\nurl = "http://127.0.0.1:9090"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value) == (
        f"invalid configuration in {path}: prometheus.0.name: 'prod' is already the name of livekit.0.name; "
        "every source needs its own name (the store keeps each source's data by name)"
    )
    path.write_text(livekit + '[[prometheus]]\nname = "prod-nodes"\nurl = "http://127.0.0.1:9090"\n')
    assert [source.name for source in load_settings(path, env={}).prometheus] == ["prod-nodes"]


def test_secret_is_never_echoed_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[livekit]]\nname = "a"\nurl = "nope"\napi_key = "k"\napi_secret = "TOPSECRET-123456"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert "TOPSECRET" not in str(info.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[database\nurl=")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(path, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", env={})


@pytest.mark.slow
def test_cli_exits_2_on_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[collectors]\ninterval_s = 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "collectors", "run", "--once", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "collectors.interval_s" in result.stderr


def test_the_metrics_port_comes_from_the_environment_and_is_validated(tmp_path: Path) -> None:
    config = tmp_path / "castmeter.toml"
    config.write_text("[metrics]\nport = 9470\n")
    assert load_settings(config, env={}).metrics.port == 9470
    assert load_settings(config, env={"CASTMETER_METRICS_PORT": "0"}).metrics.port == 0
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        load_settings(config, env={"CASTMETER_METRICS_PORT": "70000"})


def test_the_current_model_choices_are_the_price_model_registry() -> None:
    from typing import get_args

    from analytics.costs import MODEL_IDS
    from core.settings import PriceSettings

    allowed = get_args(PriceSettings.model_fields["current_model"].annotation)
    assert sorted(allowed) == sorted(MODEL_IDS)
