from pathlib import Path

from click.testing import CliRunner

from seawall.cli import main

GOOD = """
providers:
  - name: alpha
    kind: openai
    base_url: http://127.0.0.1:9001/v1
    api_key: ${CLI_TEST_KEY:-sk-should-not-print}
models:
  - name: chat
    targets:
      - provider: alpha
        model: gpt-4o-mini
"""


def test_check_config_ok_summarises_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "seawall.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: OK" in result.output
    assert "model chat: alpha/gpt-4o-mini" in result.output
    assert "sk-should-not-print" not in result.output


def test_check_config_error_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("provider: alpha", "provider: beta"))
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: models[0].targets[0].provider: unknown provider 'beta'" in result.output


def test_serve_with_bad_config_fails_before_binding(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("providers: []\nmodels: []\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(path), "--port", "0"])
    assert result.exit_code == 2
    assert "providers: List should have at least 1 item" in result.output


def test_simulate_rejects_unknown_setting() -> None:
    result = CliRunner().invoke(main, ["simulate", "--port", "0", "--set", "explode=1"])
    assert result.exit_code == 2
    assert "explode" in result.output


def test_traces_show_unknown_id(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 't.db'}"
    listed = CliRunner().invoke(main, ["traces", "list", "--store", store])
    assert listed.exit_code == 0
    assert "no traces" in listed.output
    shown = CliRunner().invoke(main, ["traces", "show", "nope1234", "--store", store])
    assert shown.exit_code == 2
    assert "no trace 'nope1234'" in shown.output
