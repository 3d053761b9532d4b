"""The reproduction scripts of ``experiments/reproductions/`` (small-scale CPU checks of SA-DARTS claims): one script,
``repro_skip_init.py`` (SA-DARTS Fig. 4), end to end in its ``--smoke`` mode (three 4-iteration searches through
``run_search``, the report and its plot written to a temporary folder), then rerun to check that finished runs are
skipped."""
import importlib.util
import re
from pathlib import Path

REPRO = Path(__file__).resolve().parents[1] / "experiments" / "reproductions"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPRO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_skip_init_smoke_writes_the_report_and_skips_finished_runs(tmp_path):
    script = load("repro_skip_init")
    md = script.main(["--smoke", "--out", str(tmp_path)])
    assert md == tmp_path / "repro_skip_init.md"
    assert (tmp_path / "repro_skip_init.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = md.read_text()
    for section in ("## Setup (scaled to 2 CPU cores)", "## Results", "## Verdict", "Wall time: 3 runs",
                    "experiments/reproductions/repro_skip_init.py --smoke", "![trajectories](repro_skip_init.png)"):
        assert section in text
    # per run: method, seed, the overtake epoch of each of the 3 MRB rows, final top ops, final beta_skip
    per_run = re.findall(r"^\| (DARTS|Beta|SA) \| 0 \|((?: [^|]+ \|){5})$", text, re.M)
    assert [m for m, _ in per_run] == ["DARTS", "Beta", "SA"]
    for _, cells in per_run:
        rows = [c.strip() for c in cells.split("|")[:-1]]
        assert all(re.fullmatch(r"-|\d+( \(end\))?", r) for r in rows[:3])
        assert len(rows[3].split(", ")) == 3 and len(rows[4].split(", ")) == 3
    # per method: 7 columns, counts out of the 3 rows of the one seed
    per_method = re.findall(r"^\| (DARTS|Beta|SA) \| (\d)/3 \| (\d)/3 \| [^|]+ \| \d / \d \| [^|]+ \| [^|]+ \|$",
                            text, re.M)
    assert [m[0] for m in per_method] == ["DARTS", "Beta", "SA"]
    runs = tmp_path / "runs" / "skip_init"
    done = {p: p.stat().st_mtime_ns for p in runs.glob("*_s0/genotype.json")}
    assert len(done) == 3
    script.main(["--smoke", "--out", str(tmp_path)])  # skip-if-done: nothing is searched again
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*_s0/genotype.json")} == done


def test_hand_written_verdicts_are_kept_above_the_generated_line():
    common = load("_common")
    kept = (REPRO / "verdicts" / "repro_hessian.md").read_text().strip()
    assert kept.startswith("**R-DARTS' growth: not observed at this scale.**")
    assert common.verdict("repro_hessian", "numbers.") == f"{kept}\n\nGenerated from the tables above: numbers."
    assert common.verdict("repro_not_written_yet", "numbers.") == "numbers."  # no hand-written verdict
