from pathlib import Path

import pytest

from harness_evals.config import ConfigError, Settings, load_settings


def test_defaults_point_at_the_bundled_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings == Settings()
    assert [str(s.path) for s in settings.sources] == [
        "data/sample/traces.jsonl", "data/sample/chat_traces.jsonl", "data/sample/evals.jsonl"
    ]


def test_a_settings_file_overrides_what_it_names(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('labels = []\n[[sources]]\npath = "x.jsonl"\nkind = "production"\n[mine]\nbudget = 7\n')
    settings = load_settings(path)
    assert (settings.sources[0].path, settings.labels, settings.mine.budget, settings.mine.seed) == (
        Path("x.jsonl"), [], 7, 0
    )


def test_a_bad_settings_file_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text("[mine]\nbudget = -1\nbudjet = 3\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value) == (
        f"{path}: mine.budget: Input should be greater than or equal to 0; mine.budjet: Extra inputs are not permitted"
    )
    with pytest.raises(ConfigError, match="no such settings file"):
        load_settings(tmp_path / "absent.toml")


def test_dask_takes_a_scheduler_address_or_local(tmp_path):
    path = tmp_path / "h.toml"
    for address in ("tcp://10.0.0.5:8786", "local"):
        path.write_text(f'dask = "{address}"\n')
        assert load_settings(path).dask == address
    path.write_text('dask = "10.0.0.5:8786"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value) == (f"{path}: dask: give a Dask scheduler's address such as tcp://10.0.0.5:8786, "
                                "or local; got '10.0.0.5:8786'")
