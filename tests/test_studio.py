"""jaft studio without a browser: bind/auth rules, form → command checks, jobs, run reading, chat splitting."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from jaft.errors import JaftError
from jaft.studio import commands, i18n
from jaft.studio.chat import split_reasoning
from jaft.studio.jobs import JobManager
from jaft.studio.runs import curves, find_runs, prepare_report, runs_table
from jaft.studio.server import access_for
from tests.conftest import assert_clean_error, run_jaft


# --- language --------------------------------------------------------------------------------------------
def test_every_string_exists_in_both_languages_and_differs_where_it_should():
    for key, pair in {**i18n.STRINGS, **i18n.MESSAGES}.items():
        assert len(pair) == 2 and all(pair), key
    # Tab names are Japanese by default.
    assert i18n.t("tab_train") == "学習" and i18n.t("tab_train", "en") == "Train"
    assert i18n.msg("missing", "ja", what="データ", path="x") == "データ: x が見つかりません。"


# --- where it listens ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "allow", "auth", "expect"),
    [
        ("127.0.0.1", False, None, None),  # loopback: no login
        ("localhost", False, None, None),
        ("::1", False, None, None),
        ("127.0.0.1", False, "a:b", ("a", "b")),
        ("0.0.0.0", True, "alice:pw", ("alice", "pw")),
    ],
)
def test_access_rules(host, allow, auth, expect):
    a = access_for(host, 7860, allow_remote=allow, auth=auth)
    assert a.auth == expect and a.announce is None


def test_non_loopback_needs_the_flag_and_then_a_login():
    with pytest.raises(JaftError, match="--allow-remote"):
        access_for("0.0.0.0", 7860)
    a = access_for("0.0.0.0", 7860, allow_remote=True)
    assert a.auth is not None and a.auth[0] == "jaft" and len(a.auth[1]) >= 20
    assert a.auth[1] in a.announce  # the token is printed once, at start
    assert access_for("0.0.0.0", 7860, allow_remote=True).auth[1] != a.auth[1]  # a fresh token each start


@pytest.mark.parametrize(("auth", "port"), [("nopassword", 7860), (":pw", 7860), ("u:", 7860), (None, 0), (None, 70000)])
def test_bad_auth_or_port(auth, port):
    with pytest.raises(JaftError):
        access_for("127.0.0.1", port, auth=auth)


def test_cli_refuses_remote_host_without_flag(tmp_path):
    assert_clean_error(run_jaft("studio", "--host", "0.0.0.0", "--workdir", str(tmp_path)), "--allow-remote")
    assert_clean_error(run_jaft("studio", "--workdir", str(tmp_path / "nope")), "--workdir")


def test_cli_help_does_not_import_gradio():
    code = "import sys, jaft.cli; jaft.cli.build_app(); print('gradio' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


# --- forms → commands ---------------------------------------------------------------------------------------
@pytest.fixture()
def jobs(tmp_path):
    return JobManager(tmp_path)


def test_prepare_command_is_the_cli_line(jobs):
    cmd = commands.prepare_command(jobs, inputs="", samples=[], mode="trial", out="data/p", augment=1,
                                   val_ratio=0.05, seed=0)
    assert cmd.argv == ["jaft", "data", "prepare", "--mode", "trial", "--out", "data/p", "--augment", "1",
                        "--val-ratio", "0.05", "--seed", "0"]
    cmd = commands.prepare_command(jobs, inputs="", samples=["qa"], mode="development", out="d", augment=0,
                                   val_ratio=0.1, seed=3)
    assert cmd.argv[3].endswith("qa_ja.jsonl")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("augment", -1, "0 〜 10"),
        ("augment", 1.5, "0 〜 10"),
        ("val_ratio", 0.9, "0 〜 0.5"),
        ("seed", "abc", "abc"),
        ("inputs", "no/such/file.jsonl", "no/such/file.jsonl が見つかりません"),
        ("mode", "fast", "実行モード"),
        ("out", "", "出力ディレクトリ"),
    ],
)
def test_prepare_bad_input_messages(jobs, field, value, needle):
    form = dict(inputs="", samples=[], mode="trial", out="d", augment=1, val_ratio=0.05, seed=0)
    form[field] = value
    with pytest.raises(JaftError) as e:
        commands.prepare_command(jobs, **form)
    assert needle in e.value.message


def _train_form(tiny, data_dir, **kw):
    form = dict(model=str(tiny), data=str(data_dir), out="runs/a", method="full", epochs=1, max_steps=3, lr=1e-3,
                batch=4, logging_steps=1, system_prompt="考えてから答えて: <think>")
    return form | kw


def test_train_command_and_bad_values(jobs, tmp_path, tiny_qwen):
    data = tmp_path / "data"
    data.mkdir()
    cmd = commands.train_command(jobs, **_train_form(tiny_qwen, data))
    assert cmd.argv[:4] == ["jaft", "train", "--model-name", str(tiny_qwen)]
    assert cmd.argv[6:8] == ["--output", "runs/a"] and "--max-steps" in cmd.argv
    # The prompt travels JSON-quoted, so a colon cannot turn it into a YAML mapping.
    assert 'train.system_prompt="考えてから答えて: <think>"' in cmd.argv
    assert commands.train_command(jobs, **_train_form("qwen-1.5b", data)).argv[2:4] == ["--model-type", "qwen-1.5b"]
    bad = [dict(epochs=0), dict(max_steps=0), dict(lr=5), dict(batch=-2), dict(logging_steps=0),
           dict(model=str(tmp_path / "missing-model")), dict(data=str(tmp_path / "nodata")), dict(model="")]
    for kw in bad:
        with pytest.raises(JaftError):
            commands.train_command(jobs, **_train_form(tiny_qwen, data, **kw))
    # A finished run in the output: refused (nothing overwritten), with the way out in the message.
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "jaft_run.yaml").write_text("stage: sft\n")
    with pytest.raises(JaftError, match="再開"):
        commands.train_command(jobs, **_train_form(tiny_qwen, data))


def test_grpo_resume_eval_export_commands(jobs, tmp_path):
    run = tmp_path / "runs" / "s"
    run.mkdir(parents=True)
    (run / "jaft_run.yaml").write_text("stage: sft\nconfig: {}\n")
    g = commands.grpo_command(jobs, from_run="runs/s", data="", out="runs/g", max_steps=4, num_generations=2, lr=0,
                              beta=0.04, logging_steps=1)
    assert g.argv[:4] == ["jaft", "grpo", "--from", "runs/s"] and "--num-generations" in g.argv
    with pytest.raises(JaftError):
        commands.grpo_command(jobs, from_run="runs/s", data="", out="", max_steps=4, num_generations=1, lr=0,
                              beta=0.04, logging_steps=1)
    assert commands.resume_command(jobs, "runs/s").argv == ["jaft", "train", "--resume", "--output", "runs/s"]
    e = commands.eval_command(jobs, model="runs/s", limit=5, max_new_tokens=32, out="p.jsonl")
    assert e.argv[-1] == "--json" and e.argv[e.argv.index("--limit") + 1] == "5"
    x = commands.export_command(jobs, run="runs/s", out="", quants=["q4_k_m", "q8_0"], ollama_name="")
    assert x.argv == ["jaft", "export", "--run", "runs/s", "--quant", "q4_k_m,q8_0"] and x.output == "runs/s/export"
    with pytest.raises(JaftError):
        commands.export_command(jobs, run="runs/s", out="", quants=[], ollama_name="")


# --- jobs -----------------------------------------------------------------------------------------------------
def test_job_runs_the_cli_records_its_exit_and_refuses_a_second_writer(jobs, tmp_path):
    job = jobs.start("init-tiny", ["jaft", "--version"], output="x")
    assert jobs.wait(job, 60) == "finished"
    assert "jaft" in jobs.stdout(job)
    assert json.loads((jobs.dir / f"{job.id}.json").read_text())["returncode"] == 0
    bad = jobs.start("prepare", ["jaft", "data", "prepare", "--out", ""])
    assert jobs.wait(bad, 60) == "failed" and "error:" in jobs.tail(bad)


def test_stop_kills_the_process_group_and_a_busy_output_is_refused(jobs, tmp_path, monkeypatch):
    # A stand-in for a long training: `jaft` whose main sleeps (the real entry point, a slow command).
    slow = tmp_path / "sitecustomize.py"
    slow.write_text("import os, sys, time\n"
                    "if os.environ.get('JAFT_TEST_SLEEP'):\n"
                    "    import jaft.cli\n"
                    "    jaft.cli.main = lambda argv=None: time.sleep(60)\n")
    env = {"PYTHONPATH": f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}", "JAFT_TEST_SLEEP": "1"}
    job = jobs.start("train", ["jaft", "train", "--output", "runs/r"], output="runs/r", env=env)
    time.sleep(0.5)
    assert jobs.status(job) == "running"
    with pytest.raises(JaftError, match="already"):
        jobs.start("train", ["jaft", "train"], output=str(tmp_path / "runs" / "r"))  # same dir, absolute
    other = JobManager(tmp_path)  # a restarted studio sees the running job from its files
    assert other.busy("runs/r") is not None and other.status(other.get(job.id)) == "running"
    assert jobs.stop(job, grace_s=5)
    assert jobs.wait(job, 10) == "stopped"
    assert jobs.busy("runs/r") is None


# --- reading runs ---------------------------------------------------------------------------------------------
def test_runs_table_and_curves(tmp_path):
    from jaft.rundir import RunDir

    run = RunDir(tmp_path / "runs" / "sft")
    run.write_run_file(stage="sft", config={"model": {"model_name": "/m/tiny"}})
    for i, loss in enumerate([3.0, 2.0, 1.5], 1):
        run.append_metrics({"step": i, "loss": loss})
    run.append_metrics({"step": 3, "reward": 0.5, "temperature": 0.9})
    with run.metrics_file.open("a") as f:
        f.write('{"step": 4, "lo')  # a line cut by a kill
    (tmp_path / ".venv" / "x").mkdir(parents=True)
    (tmp_path / ".venv" / "x" / "jaft_run.yaml").write_text("stage: sft\n")  # never searched
    assert find_runs(tmp_path) == [run.path]
    rows = runs_table(tmp_path)
    assert rows[0][:3] == ["runs/sft", "sft", "incomplete"] and rows[0][4] == "tiny"
    assert "loss 1.5" in rows[0][5] and "reward 0.5" in rows[0][5]
    pts = curves(run.path)
    assert [p["value"] for p in pts if p["series"] == "loss"] == [3.0, 2.0, 1.5]
    assert {"step": 3, "value": 0.9, "series": "temperature"} in pts
    (run.adapter_dir).mkdir()
    (run.adapter_dir / "adapter_config.json").write_text("{}")
    assert runs_table(tmp_path)[0][2] == "finished"


def test_prepare_report_reads_the_real_output(tmp_path):
    from jaft.config import JapaneseDataConfig
    from jaft.data.prepare import prepare

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "今日は良い天気です。散歩に行きましょう。"}\n{"text": ""}\nnot json\n', encoding="utf-8")
    prepare([str(src)], tmp_path / "out", JapaneseDataConfig(mode="trial", augment=1, val_ratio=0.0))
    rep = prepare_report(tmp_path / "out")
    counts = dict(rep["counts"])
    assert counts["input_records"] == 3 and counts["rejected"] == 2
    assert {r[1] for r in rep["rejects"]} and all(r[0].startswith(str(src)) for r in rep["rejects"])


# --- chat -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "opened", "reasoning", "answer"),
    [
        ("考える</think>\n\n答えは4", True, "考える", "答えは4"),
        ("<think>まず2+2</think><answer>4</answer>", False, "まず2+2", "<answer>4</answer>"),
        ("こんにちは", False, None, "こんにちは"),
        ("途中で切れた推論", True, "途中で切れた推論", ""),
        ("\n</think>\n\n直接の答え", True, "", "直接の答え"),
    ],
)
def test_split_reasoning(text, opened, reasoning, answer):
    assert split_reasoning(text, opened) == (reasoning, answer)


def test_only_the_studio_imports_gradio_and_the_studio_never_imports_the_cli():
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "jaft"
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        rel = path.relative_to(src).parts
        if any(n.split(".")[0] == "gradio" for n in names):
            assert rel[0] == "studio" and rel[-1] != "__init__.py", path
        if rel[0] == "studio":
            assert not any(n.startswith("jaft.cli") for n in names), path
    # Gradio is imported at module top only by the layout modules, never by the studio package itself.
    code = "import sys, jaft.studio, jaft.studio.jobs, jaft.studio.commands, jaft.studio.runs; print('gradio' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def test_a_running_jobs_command_reads_back_into_the_train_form(jobs, tmp_path, tiny_qwen):
    data = tmp_path / "data"
    data.mkdir()
    form = _train_form(tiny_qwen, data, system_prompt='「答え」: "4" です')
    cmd = commands.train_command(jobs, **form)
    back = commands.train_form_from_argv(cmd.argv)
    assert back == {"stage": "SFT", **form, "model": str(tiny_qwen), "epochs": 1.0, "lr": 0.001}
    (tmp_path / "runs" / "s").mkdir(parents=True)
    g = commands.grpo_command(jobs, from_run="runs/s", data="", out="runs/g", max_steps=4, num_generations=2, lr=0,
                              beta=0.04, logging_steps=1)
    assert commands.train_form_from_argv(g.argv) == {"stage": "GRPO", "from_run": "runs/s", "out": "runs/g",
                                                     "max_steps": 4, "num_generations": 2, "beta": 0.04,
                                                     "logging_steps": 1}


# --- prepare progress ---------------------------------------------------------------------------------------
def test_prepare_progress_counts_completed_tasks_per_stage(tmp_path):
    from jaft.data.parallel import WORK, progress

    out = tmp_path / "out"
    assert progress(out) == {}  # nothing started (and, after a run, the work dir is gone)
    work = out / WORK
    work.mkdir(parents=True)
    (work / "stages.json").write_text(json.dumps([{"name": "admit", "tasks": 4}, {"name": "exact", "tasks": 1},
                                                  {"name": "buckets", "tasks": 2}, {"name": "finish", "tasks": 1}]))
    for stage, ranks in (("admit", [0, 1, 2, 3]), ("buckets", [1])):
        comp = work / "logs" / stage / "completions"
        comp.mkdir(parents=True)
        for r in ranks:
            (comp / f"{r:05d}").touch()
    p = progress(out)
    # admit done, exact (1 task) not yet: exact is the current stage even though a bucket task finished.
    assert (p["stage"], p["index"], p["count"], p["done"], p["tasks"]) == ("exact", 2, 4, 0, 1)
    assert p["fraction"] == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert [s["done"] for s in p["stages"]] == [4, 0, 1, 0]
    (work / "logs" / "exact" / "completions").mkdir(parents=True)
    (work / "logs" / "exact" / "completions" / "00000").touch()
    assert progress(out)["stage"] == "buckets" and progress(out)["done"] == 1

    from jaft.studio.tabs.data import prepare_progress

    bar = prepare_progress(str(out), "en")
    assert 'value="0.625"' in bar and "3/4 buckets: 1/2 tasks — 62%" in bar
    assert "<progress style=\"width:100%\"></progress>" in prepare_progress(str(tmp_path / "none"), "en")


def test_a_real_prepare_records_its_stages_for_progress(tmp_path, monkeypatch):
    """Each stage of a real run starts with the earlier stages' tasks all counted done."""
    from io import StringIO

    from rich.console import Console

    from jaft.config import JapaneseDataConfig
    from jaft.data import local_runner, parallel

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "今日は良い天気です。散歩に行きましょう。"}\n{"text": ""}\n', encoding="utf-8")
    out = tmp_path / "out"
    seen = []
    real = local_runner.LocalRunner._run_stage

    def spy(self, ctx, executor, stage, *args):
        seen.append(parallel.progress(out))
        return real(self, ctx, executor, stage, *args)

    monkeypatch.setattr(local_runner.LocalRunner, "_run_stage", spy)
    parallel.prepare_parallel([str(src)], out, JapaneseDataConfig(mode="trial", augment=0, workers=1),
                              console=Console(file=StringIO()))
    names = ["admit", "exact", "buckets", "clusters", "write", "finish"]
    assert [s["stage"] for s in seen] == names
    assert [s["index"] for s in seen] == [1, 2, 3, 4, 5, 6] and all(s["done"] == 0 for s in seen)
    assert seen[0]["fraction"] == 0 and seen[-1]["fraction"] == pytest.approx(5 / 6)
    assert parallel.progress(out) == {}  # finished: the work directory is gone


# --- train form prefilled from the strategy ---------------------------------------------------------------------
def test_prefilled_strategy_values_stay_off_the_command_line_until_changed(jobs, tmp_path, tiny_qwen):
    from jaft.studio import strategy
    from jaft.train.strategy import FULL_LR_SCALE

    data = tmp_path / "data"
    data.mkdir()
    wd = str(tmp_path)
    shown, base, sources = strategy.prefill(jobs, wd, str(tiny_qwen), dict(strategy.UNSET), {})
    # The strategy's own values (what jaft_run.yaml's `applied` would record), with where each comes from.
    applied = strategy.resolve_applied(jobs, wd, str(tiny_qwen))
    assert shown == base == {f: applied[key].value for f, (_, key) in strategy.FIELDS.items()}
    assert shown["method"] in ("lora", "qlora", "full") and shown["lr"] > 0 and shown["lora_r"] > 0
    assert {s for s, _ in sources.values()} <= {"registry", "planner"}

    form = _train_form(tiny_qwen, data, method="auto", lr=0, batch=0)
    before = commands.train_command(jobs, **form).argv  # the line of a form left to the strategy
    untouched = commands.train_command(jobs, **strategy.overrides_only({**form, **shown}, base)).argv
    assert untouched == before
    assert not {"--lr", "--method"} & set(untouched) and not any("batch_size" in a or "lora." in a for a in untouched)

    # Changed fields (and only those) go in; typing the strategy's own value back is no change.
    edited = {**form, **shown, "lr": 1e-3, "lora_r": shown["lora_r"] * 2, "batch": shown["batch"]}
    argv = commands.train_command(jobs, **strategy.overrides_only(edited, base)).argv
    assert argv[argv.index("--lr") + 1] == "0.001" and f"lora.r={shown['lora_r'] * 2}" in argv
    assert "--method" not in argv and not any("batch_size" in a or "lora.alpha" in a for a in argv)
    back = commands.train_form_from_argv(argv)
    assert back["lora_r"] == shown["lora_r"] * 2 and "grad_accum" not in back

    # Re-resolved with the user's values: theirs are kept (source config), the baseline stays the strategy's.
    again, base2, src2 = strategy.prefill(jobs, wd, str(tiny_qwen), {f: edited[f] for f in strategy.FIELDS}, base)
    assert again["lr"] == 1e-3 and base2["lr"] == pytest.approx(shown["lr"]) and src2["lr"][0] == "config"
    assert src2["batch"][0] != "config" and strategy.user_changes(again, base2) == {"lr": 1e-3,
                                                                                    "lora_r": shown["lora_r"] * 2}
    # Full fine-tuning chosen: the untouched learning rate follows the strategy (scaled), the method is passed.
    full, base3, _ = strategy.prefill(jobs, wd, str(tiny_qwen), {**shown, "method": "full"}, base)
    assert full["lr"] == pytest.approx(shown["lr"] * FULL_LR_SCALE) and base3["method"] == shown["method"]
    argv = commands.train_command(jobs, **strategy.overrides_only({**form, **full}, base3)).argv
    assert argv[argv.index("--method") + 1] == "full" and "--lr" not in argv
    with pytest.raises(JaftError):  # a half-typed Hub id is not fetched while typing
        strategy.prefill(jobs, wd, "someone/not-in-the-registry", dict(strategy.UNSET), {}, fetch_hub=False)


def _listeners(lang: str, tmp_path):
    """``{(component elem_id or type#id, event): [dependency index, ...]}`` of the built page."""
    from collections import defaultdict

    from jaft.studio.app import build_blocks
    from jaft.studio.context import Studio

    cfg = build_blocks(Studio.at(tmp_path), lang).get_config_file()
    comps = {c["id"]: c for c in cfg["components"]}
    out = defaultdict(list)
    for k, dep in enumerate(cfg["dependencies"]):
        for target, event in dep["targets"]:
            c = comps.get(target)
            name = "page" if c is None else c.get("props", {}).get("elem_id") or f"{c['type']}#{target}"
            out[(name, event)].append(k)
    return out, cfg


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_one_listener_per_component_event_and_timers_start_off(lang, tmp_path):
    # Gradio 6 re-fires the change event of a component with two or more listeners without end (the
    # studio kept a browser core busy once a model path was typed): every change / select is wired once.
    listeners, cfg = _listeners(lang, tmp_path)
    repeated = {k: v for k, v in listeners.items() if len(v) > 1 and k[1] != "load"}
    assert repeated == {}
    # The model field fills the strategy fields, the command line and the evaluation's "before" at once.
    (dep,) = listeners[("train-model", "change")]
    outs = {c["props"].get("elem_id") for c in cfg["components"] if c["id"] in cfg["dependencies"][dep]["outputs"]}
    assert {"train-command", "eval-before", "train-lr", "train-method"} <= outs
    # Timers tick only on the selected tab: all start inactive, and selecting a tab switches them.
    timers = [c for c in cfg["components"] if c["type"] == "timer"]
    assert len(timers) == 4 and not any(c["props"]["active"] for c in timers)
    assert len(listeners[("tab-train", "select")]) == 1


def test_no_run_history_in_the_browser(tmp_path, monkeypatch):
    # Gradio's run history keeps every event's inputs and outputs (logs, paths) in the browser's storage,
    # timer ticks included, rewriting it on each one, and offers to sync it to a Hub bucket.
    import gradio as gr

    from jaft.studio.app import OFFLINE_ENV, make_app
    from jaft.studio.context import Studio

    mounted = []

    def mount(app, blocks, path, **kw):
        mounted.append(kw)
        return app

    mount.__wrapped__ = gr.mount_gradio_app  # its signature: the run_history parameter is there
    monkeypatch.setattr(gr, "mount_gradio_app", mount)
    make_app(Studio.at(tmp_path), access_for("127.0.0.1", 7860))
    assert len(mounted) == 2 and all(kw["run_history"] is False for kw in mounted)
    assert OFFLINE_ENV["GRADIO_RUN_HISTORY"] == "False"


def test_combined_listener_routes_inputs_and_outputs():
    import gradio as gr

    from jaft.studio.context import _combined

    with gr.Blocks():
        a, b, c, x, y, z = (gr.Textbox() for _ in range(6))
    fn, inputs, outputs = _combined([(lambda p, q: (p + q, q), [a, b], [x, y]),
                                     (lambda q: [q, q], [b], [z]),  # one output: its value is the list itself
                                     (lambda r: None, [c], [])])
    assert inputs == [a, b, c] and outputs == [x, y, z]
    assert fn("1", "2", "3") == ["12", "2", ["2", "2"]]
    with pytest.raises(ValueError, match="same component"):
        _combined([(lambda p: p, [a], [x]), (lambda p: p, [a], [x])])


@pytest.mark.parametrize("values, last, sent", [
    (["状態", [["a", 1]], 3], None, ["状態", [["a", 1]], 3]),  # first refresh of a page: everything
    (["状態", [["a", 1]], 3], ["'状態'", "[['a', 1]]", "3"], [None, None, None]),  # nothing changed
    (["状態2", [["a", 1]], 4], ["'状態'", "[['a', 1]]", "3"], ["状態2", None, 4]),
    (["x"], ["'x'", "'y'"], ["x"]),  # keys of another length: sent again
])
def test_poll_sends_only_what_changed(values, last, sent):
    import gradio as gr

    from jaft.studio.context import only_changed

    out, keys = only_changed(values, last)
    assert [None if v == gr.skip() else v for v in out] == sent
    assert only_changed(values, keys)[0] == [gr.skip()] * len(values)
    frame = object()  # not comparable by repr (a DataFrame): always sent
    assert only_changed([frame], [repr(frame)])[0] == [frame]
