"""The local executor of the parallel prepare: the whole run's time left, and what the console shows."""

import io
import re

import pytest
from rich.console import Console

from jaft.config.data import JapaneseDataConfig
from jaft.data.local_runner import RunEta, clock
from jaft.data.parallel import prepare_parallel

PLAIN = JapaneseDataConfig(augment=0)
VARIED = JapaneseDataConfig(mode="production", augment=2)  # no limit: every record gets variants
LIMITED = JapaneseDataConfig(mode="development", augment=2, augment_limit=1000)


# (config, stage, fraction, elapsed s, records read, expected seconds left in the whole run)
LEFT = [
    # admit half done in 10 s: 10 s more, then 0.1 × 20 s of dedup stages, then the write stage
    (PLAIN, "admit", 0.5, 10.0, 500, 10 + 2 + 20 * 0.15),
    (VARIED, "admit", 0.5, 10.0, 500, 10 + 2 + 20 * 2.0),
    (LIMITED, "admit", 0.5, 10.0, 500, 10 + 2 + 20 * 2.0),  # ~1,000 records: all within the limit
    (LIMITED, "admit", 0.5, 10.0, 5000, 10 + 2 + 20 * (0.15 + 1.85 * 0.1)),  # a tenth get variants
    (VARIED, "write", 0.25, 5.0, 100, 15.0),  # its own rate once it has one
    (VARIED, "finish", 0.0, 0.0, 0, 0.0),
]


@pytest.mark.parametrize(("config", "stage", "fraction", "elapsed", "records", "expected"), LEFT)
def test_time_left_for_the_whole_run(config, stage, fraction, elapsed, records, expected):
    assert RunEta(config).left(stage, fraction, elapsed, records) == pytest.approx(expected)


def test_later_stages_are_predicted_from_the_admit_stage():
    eta = RunEta(VARIED)
    assert eta.left("exact", 0.0, 0.0) is None  # admit finished in an earlier run: nothing to go on
    assert eta.left("admit", 0.0, 0.0) is None
    eta.admit_done(1.0, 20.0, 1000)
    assert eta.left("exact", 0.0, 0.0) == pytest.approx(2 + 40)
    assert eta.left("buckets", 0.5, 1.0) == pytest.approx(1 + 40)
    assert eta.left("write", 0.0, 0.0) == pytest.approx(40)  # not started: predicted
    # A resumed admit stage that had half its bytes left: its whole time is extrapolated.
    resumed = RunEta(PLAIN)
    resumed.admit_done(0.5, 10.0, 1000)
    assert resumed.admit_s == pytest.approx(20.0)


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (0, "0:00"), (59.6, "1:00"), (61, "1:01"),
                                               (3600, "1:00:00"), (3725, "1:02:05"), (-3, "0:00")])
def test_clock(seconds, text):
    assert clock(seconds) == text


def test_terminal_shows_each_stage_with_shards_rate_and_the_runs_time_left(tmp_path):
    lines = ["今日は良い天気です。散歩に行きましょう。", "明日は雨が降るそうです。傘を持って出かけます。",
             "駅前の本屋で新しい小説を買いました。週末に読むつもりです。"]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(f"{t}（{i}）" for i in range(40) for t in lines) + "\n", encoding="utf-8")
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, color_system=None)
    prepare_parallel([str(src)], tmp_path / "out", JapaneseDataConfig(augment=1, workers=2, shard_bytes=2000),
                     console=console)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    summary = [ln for ln in re.split(r"[\r\n]", text) if re.match(r"prepare \d/6 \w+: \d+/\d+ (shards|tasks),", ln)]
    assert [ln.split()[2].rstrip(":") for ln in summary] == ["admit", "exact", "buckets", "clusters", "write",
                                                             "finish"]
    admit = summary[0]
    assert re.search(r": (\d+)/\1 shards, [\d,]+ records/s, [\d.]+ s \(run: \d+:\d\d, ~\d+:\d\d left\)", admit), admit
    assert "left" not in summary[-1]


@pytest.mark.parametrize(("extra", "line"), [
    ({"records_per_second": 1234.5, "seconds": 2.0}, "1,234.5 records/s with 2 worker(s), 3 shard(s)"),
    ({"resumed": True, "seconds": 2.04}, "resumed: this run took 2.0 s with 2 worker(s)"),  # no rate: unknown
    ({}, "0.0 s with 2 worker(s)"),
])
def test_cli_summary_gives_a_rate_only_when_it_is_known(extra, line, capsys):
    from jaft.cli.data_prepare import _summary

    report = {"input_records": 10, "kept": 10, "rejected": 0, "duplicates_removed": 0, "filtered": 0, "augmented": 0,
              "train": 9, "validation": 1, "reasons": {}, "variants": {}, "workers": 2, "shards": 3, **extra}
    _summary(report, "out")
    assert line in capsys.readouterr().out
