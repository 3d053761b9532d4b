"""The reproductions of ``experiments/reproductions/``: the verdicts generated from fixed JSON inputs (a passing
control and separated intervals give "reproduced"; a failing control gives "inconclusive at this scale"), then one
script end to end in its ``--smoke`` mode (tiny searches through ``run_search``), rerun to check that finished runs are
skipped and that the report is redrawn from its JSON alone."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPRO = Path(__file__).resolve().parents[1] / "experiments" / "reproductions"


def load(name: str):
    sys.path.insert(0, str(REPRO))
    spec = importlib.util.spec_from_file_location(name, REPRO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


C = load("_common")
R = load("repro_control")


def darts_run(final_skip: float, final_margin: float) -> dict:
    """A finished run's summary as ``summarize`` writes it: 4 epochs, skip rising linearly to ``final_skip``."""
    u = 1 / 11
    skips = [u + (final_skip - u) * e / 4 for e in range(1, 5)]
    return {"epochs": [1, 2, 3, 4], "skip": [[s] * 3 for s in skips], "none": [[u] * 3] * 4,
            "param": [[u] * 3] * 4, "margin": [final_margin * e / 4 for e in range(1, 5)], "eigenvalues": [],
            "ops": ["skip_connect"] * 3, "last_change_epoch": 1, "impl": "fast", "search_seconds": 1.0}


PASSING = {0: darts_run(0.20, 0.05), 1: darts_run(0.15, 0.03), 2: darts_run(0.25, 0.04)}
FAILING = {0: darts_run(0.08, 1e-4), 1: darts_run(0.095, 2e-4), 2: darts_run(0.085, 1e-4)}  # skip ~ uniform
SEPARATED = {0: 0.5, 1: 0.8, 2: 0.3}  # a paired difference of the same sign in every seed


def test_control_passes_when_skip_grows_and_alpha_separates():
    control = R.control_result(PASSING, [0, 1, 2], epochs=4)
    assert control["status"] == "pass"
    assert [c["decision"] for c in control["checks"]] == ["supports", "supports"]


def test_verdict_is_reproduced_with_a_passing_control_and_separated_intervals():
    control = json.loads(json.dumps(R.control_result(PASSING, [0, 1, 2], epochs=4)))  # as read back from the JSON
    v = C.verdict(control, [C.compare("SA - Beta", SEPARATED, +1)])
    assert v["verdict"] == "reproduced"
    assert v["text"].startswith("**Reproduced**")


def test_verdict_is_not_reproduced_when_an_interval_excludes_the_claimed_direction():
    control = R.control_result(PASSING, [0, 1, 2], epochs=4)
    assert C.verdict(control, [C.compare("SA - Beta", SEPARATED, -1)])["verdict"] == "not reproduced"


def test_verdict_is_inconclusive_with_a_failing_control_whatever_the_intervals():
    control = R.control_result(FAILING, [0, 1, 2], epochs=4)
    assert control["status"] == "fail"
    v = C.verdict(control, [C.compare("SA - Beta", SEPARATED, +1)])
    assert v["verdict"] == "inconclusive at this scale"
    assert "positive control failed" in v["text"] and "Needed:" in v["text"]
    assert "epochs" in control["needs"]  # the scale it would need, extrapolated from the runs' trends


def test_verdict_is_inconclusive_while_the_control_runs_or_an_interval_straddles_zero():
    running = R.control_result({0: PASSING[0]}, [0, 1, 2], epochs=4)
    assert running["status"] == "in progress"
    assert C.verdict(running, [C.compare("x", SEPARATED, +1)])["verdict"] == "inconclusive at this scale"
    straddle = C.compare("x", {0: 0.5, 1: -0.4, 2: 0.2}, +1)
    assert straddle["decision"] == "undecided" and straddle["seeds_needed"] > 3
    passed = R.control_result(PASSING, [0, 1, 2], epochs=4)
    assert C.verdict(passed, [straddle])["verdict"] == "inconclusive at this scale"


def test_bootstrap_interval_of_three_seeds_spans_about_their_range():
    iv = C.interval([1.0, 2.0, 3.0])
    assert iv["mean"] == pytest.approx(2.0) and 1.0 <= iv["lo"] < 1.7 and 2.3 < iv["hi"] <= 3.0


def test_skip_init_smoke_writes_json_report_and_skips_finished_runs(tmp_path):
    script = load("repro_skip_init")
    md = script.main(["--smoke", "--out", str(tmp_path)])
    doc = json.loads((tmp_path / "repro_skip_init.json").read_text())
    assert (tmp_path / "repro_skip_init.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["progress"] == {"done": 3, "total": 3} and doc["control"]["status"] == "fail"  # one seed: never passes
    assert doc["verdict"]["verdict"] == "inconclusive at this scale"
    assert {r["impl"] for runs in doc["runs"].values() for r in runs.values()} == {"fast"}
    text = md.read_text()
    for part in ("## Verdict (generated from the JSON)", "Wall time per stage:", "repro_skip_init.py --smoke",
                 "![plot](repro_skip_init.png)", "Positive control (`repro_control.md`): **fail**"):
        assert part in text
    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*_s0/genotype.json")}
    assert len(done) == 4  # the control's DARTS run and the three skip-biased runs
    script.main(["--smoke", "--out", str(tmp_path)])  # skip-if-done: nothing is searched again
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*_s0/genotype.json")} == done
    before = md.read_text()
    (tmp_path / "runs").rename(tmp_path / "gone")  # --from-json needs no run folder
    assert script.main(["--smoke", "--out", str(tmp_path), "--from-json"]).read_text() == before


def test_a_longer_scale_runs_and_reports_beside_the_reports():
    args = C.parse_args("doc", ["--epochs", "48"])
    assert args.runs.name == "runs_e48" and args.iters == 48 * C.EPOCH_LENGTH and args.epochs == 48
    assert args.suffix == "_e48" and "repro_control.py --epochs 48" in C.command_line("repro_control_e48", args)
    default = C.parse_args("doc", [])
    assert default.runs == C.RUNS and default.suffix == "" and default.iters == C.ITERS
    control = R.control_result(FAILING, [0, 1, 2], epochs=4)
    assert "`repro_control_e48.md`" in C.verdict(control, [C.compare("x", SEPARATED, +1)], "repro_control_e48")["text"]
    with pytest.raises(SystemExit):
        C.parse_args("doc", ["--epochs", "0"])


def test_one_process_per_run_and_others_share_the_folder(tmp_path):
    with C.lock(tmp_path, "darts_s0") as first, C.lock(tmp_path, "darts_s0") as second, \
            C.lock(tmp_path, "darts_s1") as other:
        assert first and not second and other  # flock is per open file: a second open of the same lock is refused
    with C.lock(tmp_path, "darts_s0") as again:
        assert again
