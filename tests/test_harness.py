"""The run harness (srnas.harness) and progress output (srnas.utils.progress), on their own."""
from __future__ import annotations

import io
import json
import logging

import pytest
import torch

from srnas.errors import SrnasError
from srnas.harness import keep_records, restore, snapshot
from srnas.utils.progress import LogProgress, progress_bar


def test_progress_off_a_terminal_logs_lines_not_carriage_returns(caplog):
    stream = io.StringIO()  # not a terminal
    bar = progress_bar(total=200, desc="search demo", stream=stream)
    assert isinstance(bar, LogProgress)
    with caplog.at_level(logging.INFO, logger="srnas"):
        for _ in range(200):
            bar.update(1)
            bar.set_postfix({"l_val": "0.0123"})
        bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10  # one per tenth of the work
    assert lines[0].startswith("search demo: 20/200 (10 %)") and "l_val 0.0123" in lines[0] and "eta" in lines[0]
    assert lines[-1].startswith("search demo: 200/200 (100 %)")
    assert stream.getvalue() == "" and not any("\r" in ln for ln in lines)


def test_progress_resumed_and_rewound_counts_from_there(caplog):
    bar = LogProgress(total=100, initial=50, desc="x")
    with caplog.at_level(logging.INFO, logger="srnas"):
        for _ in range(10):
            bar.update()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["x: 60/100"]
    bar.reset_to(20)
    assert bar.n == 20


class _Counter:
    def __init__(self):
        self.value = 0

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]


def test_snapshot_restore_round_trip_with_generators_and_absent_objects():
    net, gen, counter = torch.nn.Linear(3, 2), torch.Generator().manual_seed(5), _Counter()
    counter.value = 7
    objects = {"model": net, "gen": gen, "counter": counter, "absent": None}
    state = snapshot("search", 12, objects, {"elapsed": 1.5}, world_size=1)
    assert state["kind"] == "search" and state["step"] == 12 and state["absent"] is None and state["world_size"] == 1
    expected = torch.randn(4, generator=gen)
    net2, gen2, counter2 = torch.nn.Linear(3, 2), torch.Generator().manual_seed(99), _Counter()
    history = restore("ck.pth", state, "search", {"model": net2, "gen": gen2, "counter": counter2, "absent": None},
                      "this supernet")
    assert history == {"elapsed": 1.5} and counter2.value == 7
    assert torch.equal(net2.weight, net.weight) and torch.equal(torch.randn(4, generator=gen2), expected)


def test_restore_refuses_another_kind_and_a_mismatched_module():
    state = snapshot("train", 3, {"model": torch.nn.Linear(3, 2)}, {})
    with pytest.raises(SrnasError, match="ck.pth: not a search checkpoint"):
        restore("ck.pth", state, "search", {"model": torch.nn.Linear(3, 2)}, "this supernet")
    with pytest.raises(SrnasError, match="ck.pth: checkpoint does not match network_g"):
        restore("ck.pth", state, "train", {"model": torch.nn.Linear(4, 2)}, "network_g")


def test_keep_records_drops_what_came_after_the_step(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (10, 20, 30)))
    keep_records(path, 20)
    assert [json.loads(ln)["step"] for ln in path.read_text().splitlines()] == [10, 20]
