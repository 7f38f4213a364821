import json
import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from seawall.cli import main
from seawall.trace._codec import encode, to_json, to_stored
from seawall.trace._schema import ErrorInfo, ResponsePart, TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from tests.unit.trace.records import ANSWER, CLIENT, attempt, record

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


def test_check_config_shows_tiers_and_weights_and_rejects_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "seawall.yaml"
    tiered = GOOD.replace(
        "        model: gpt-4o-mini\n",
        "        model: gpt-4o-mini\n        tier: 0\n        weight: 3\n"
        "      - {provider: alpha, model: other, tier: 0}\n",
    )
    path.write_text(tiered)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert "model chat: alpha/gpt-4o-mini (tier 0, weight 3) -> alpha/other (tier 0)" in result.output
    path.write_text(tiered.replace("weight: 3", "weight: -1"))
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2 and "models[0].targets[0].weight" in result.output


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
    assert shown.exit_code == 1  # not there: 1 (a bad flag is 2)
    assert "no trace 'nope1234'" in shown.output and "Traceback" not in shown.output


def _store_with(tmp_path: Path, *records: TraceRecord) -> str:
    path = tmp_path / "t.db"
    store = SQLiteTraceStore(str(path))
    store.write_batch([to_stored(r, encode(r)) for r in records])
    store.close()
    return f"sqlite:///{path}"


OK = record(
    "0190aaaa0000000000000001",
    model="chat",
    answered_by="alpha/gpt-4o-mini",
    attempts=(attempt(provider="alpha", model="gpt-4o-mini", request_body=CLIENT, response_body=ANSWER),),
    response=ResponsePart(body=ANSWER),
)
FAILED = record(
    "0190bbbb0000000000000002",
    model="chat",
    status=502,
    stream=True,
    error=ErrorInfo(type="upstream_error", message="all failed", status=502, error_class="server_error"),
)


def test_traces_list_shows_summaries_newest_first(tmp_path: Path) -> None:
    store = _store_with(tmp_path, OK, FAILED)
    listed = CliRunner().invoke(main, ["traces", "list", "--store", store])
    assert listed.exit_code == 0, listed.output
    header, first, second = listed.output.splitlines()
    assert header.startswith("TRACE ID")
    assert first.startswith(FAILED.id) and "502" in first and first.endswith("server_error stream")
    assert second.startswith(OK.id) and "200" in second and second.endswith("alpha/gpt-4o-mini")
    errors = CliRunner().invoke(main, ["traces", "list", "--errors", "--store", store])
    assert OK.id not in errors.output and FAILED.id in errors.output


def test_traces_show_renders_a_record_found_by_prefix(tmp_path: Path) -> None:
    store = _store_with(tmp_path, OK, FAILED)
    shown = CliRunner().invoke(main, ["traces", "show", OK.id[:8], "--store", store])
    assert shown.exit_code == 0, shown.output
    assert f"trace {OK.id}" in shown.output
    assert "#0 alpha/gpt-4o-mini [openai]" in shown.output
    assert f"response: {ANSWER}" in shown.output


def test_traces_show_json_prints_the_whole_record(tmp_path: Path) -> None:
    store = _store_with(tmp_path, OK)
    shown = CliRunner().invoke(main, ["traces", "show", OK.id, "--json", "--store", store])
    assert shown.exit_code == 0, shown.output
    out = json.loads(shown.output)
    assert out == to_json(OK)
    assert out["attempts"][0]["request_body"] == CLIENT  # references expanded


def test_traces_show_reads_a_version_1_store(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    shutil.copy(Path(__file__).parent / "trace" / "fixtures" / "v1_store.db", path)
    store = f"sqlite:///{path}"
    listed = CliRunner().invoke(main, ["traces", "list", "--store", store])
    assert listed.exit_code == 0, listed.output
    assert "01a251d3778f68fc14253391" in listed.output
    shown = CliRunner().invoke(main, ["traces", "show", "01a251d3778f68", "--store", store])
    assert shown.exit_code == 0, shown.output
    assert "answer: The quick brown fox jumps over the lazy dog while the gateway" in shown.output
    as_json = json.loads(
        CliRunner().invoke(main, ["traces", "show", "01a251d3778f68", "--json", "--store", store]).output
    )
    assert as_json["schema_version"] == 2
    assert as_json["response"]["terminal"] == "done"


def test_traces_show_and_replay_of_a_torn_record_say_so_without_a_traceback(tmp_path: Path) -> None:
    store = _store_with(tmp_path, OK)
    db = sqlite3.connect(store.removeprefix("sqlite:///"))
    db.execute("UPDATE traces SET record = substr(record, 1, 40) WHERE id = ?", (OK.id,))
    db.commit()
    db.close()
    for args in (["traces", "show", OK.id], ["replay", OK.id]):
        shown = CliRunner().invoke(main, [*args, "--store", store])
        assert shown.exit_code in (1, 2) and isinstance(shown.exception, SystemExit), shown.exception
        assert "cannot be read" in shown.output and "Traceback" not in shown.output, shown.output
