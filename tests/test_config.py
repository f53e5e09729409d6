from pathlib import Path

import pytest

from harness_evals.config import ConfigError, MineSettings, Settings, Source, check_inputs, load_settings, with_flags
from tests.conftest import REPO


def test_the_defaults_read_nothing_and_the_bundled_settings_name_the_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings == Settings()
    assert (settings.sources, settings.labels) == ([], [])
    # what `make run` passes: the sample, and every other path as the defaults had it before
    sample = load_settings(REPO / "data" / "sample" / "harness-evals.toml")
    assert sample == Settings(
        sources=[Source(path=Path("data/sample/traces.jsonl"), kind="production"),
                 Source(path=Path("data/sample/chat_traces.jsonl"), kind="production"),
                 Source(path=Path("data/sample/evals.jsonl"), kind="eval")],
        labels=[Path("data/sample/labels.jsonl")],
    )
    assert (sample.db, sample.queue_out, sample.report_out, sample.suite_dir) == (
        None, Path("data/queue.jsonl"), Path("data/report.html"), Path("data/suites"))


def test_a_settings_file_overrides_what_it_names(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('labels = []\n[[sources]]\npath = "x.jsonl"\nkind = "production"\n[mine]\nbudget = 7\n')
    settings = load_settings(path)
    assert (settings.sources[0].path, settings.labels, settings.mine.budget, settings.mine.seed) == (
        Path("x.jsonl"), [], 7, 0
    )


def test_a_source_that_names_no_kind_or_format_has_ingests_defaults(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('sources = [{ path = "traces.jsonl" }, { path = "evals.jsonl", kind = "eval" }]\n')
    assert [(source.kind, source.format) for source in load_settings(path).sources] == [
        ("production", "auto"), ("eval", "auto")]


def test_a_bad_settings_file_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text("[mine]\nbudget = -1\nbudjet = 3\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value) == (
        f"{path}: mine.budget: -1 is out of range: it must be at least 0. At most this many traces are queued for "
        "labelling; mine.budjet: Extra inputs are not permitted"
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


# --- layering: model defaults, then the settings file, then flags (issue 16) ---


def test_a_flag_given_wins_over_the_file_which_wins_over_the_defaults(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('suite_name = "nightly"\n[mine]\nbudget = 3\nmin_cluster_size = 8\n')
    from_file = load_settings(path)
    layered = with_flags(from_file, suite_name=None, suite_dir=tmp_path / "out",
                         mine={"budget": 2, "min_cluster_size": None, "dimensions": None})
    assert (layered.mine.budget, layered.mine.min_cluster_size, layered.mine.dimensions) == (
        2, 8, MineSettings().dimensions)
    assert (layered.suite_name, layered.suite_dir, layered.mine.seed) == ("nightly", tmp_path / "out", 0)
    assert with_flags(from_file) == from_file


def test_a_value_out_of_range_is_refused_naming_the_flag_or_the_files_key(tmp_path):
    with pytest.raises(ConfigError) as error:
        with_flags(Settings(), mine={"covered_similarity": 2.0})
    assert str(error.value) == ("--covered-similarity: 2.0 is out of range: it must be above -1 and at most 1. "
                                "Cosine similarity at which an eval case covers a trace")
    path = tmp_path / "h.toml"
    path.write_text("[mine]\nmin_cluster_size = 1\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value) == (f"{path}: mine.min_cluster_size: 1 is out of range: it must be at least 2. "
                                "HDBSCAN's smallest cluster: fewer traces this close together are noise")


def test_a_run_with_nothing_to_read_says_how_to_configure_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^no sources to read: add them to \./harness-evals\.toml .*"
                                          r'sources = \[\{ path = "traces\.jsonl", kind = "production" \}'):
        check_inputs(Settings())
    (tmp_path / "t.jsonl").write_text("")
    present = Source(path=Path("t.jsonl"), kind="production")
    check_inputs(Settings(sources=[present]))
    with pytest.raises(ConfigError) as error:
        check_inputs(Settings(sources=[present, Source(path=Path("gone.jsonl"), kind="eval")]))
    assert str(error.value) == ("gone.jsonl: no such file (a source file in harness-evals.toml): "
                                "fix the path there, or remove it")
    with pytest.raises(ConfigError, match=r"^labels\.jsonl: no such file \(a labels file in h\.toml\)"):
        check_inputs(Settings(sources=[present], labels=[Path("labels.jsonl")]), "h.toml")
