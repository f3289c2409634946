"""Design studies run safely: one run per table, no orphan workers, up-front refusals of
studies too large, empty, or aimed at their own file, unreachable schedulers, damaged tables."""

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import microsim
import microsim.design.runner as runner
from microsim.cli import main
from microsim.design import Study, load_study, run_study
from microsim.design.study import row_bytes
from microsim.errors import InvalidInputError, ResourceError

REPO = Path(microsim.__file__).resolve().parents[1]
TINY = {"shape": [16, 16, 16], "voxel_size": "0.5um", "cam_d50": "3um", "se_d50": "1.5um", "thickness": "50um"}
TINY_TOML = ('[microstructure]\nshape = [16, 16, 16]\nvoxel_size = "0.5um"\ncam_d50 = "3um"\nse_d50 = "1.5um"\n'
             '[cell]\nthickness = "50um"\n')
ON_LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def write_study(path, grid="cam_fraction = [0.6, 0.7]", seeds="[1]"):
    path.write_text(f'name = "safety"\nseeds = {seeds}\n{TINY_TOML}[grid]\n{grid}\n')
    return path


def one_error_line(capsys, match):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("microsim: error: ") and match in err[0], err


def rows_of(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def subprocess_env(**extra):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **extra}


def no_files_but(folder, *names):
    assert sorted(p.name for p in Path(folder).iterdir()) == sorted(names)


# -- 1. one run per table ------------------------------------------------------------------
SLOW_CLI = """
import sys, time
import microsim.design.runner as runner

real = runner.evaluate

def slow(point, seed, **options):
    time.sleep(1.0)  # both runs are surely inside the study at once
    return real(point, seed, **options)

runner.evaluate = slow
from microsim.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_two_concurrent_runs_on_one_table_one_is_refused(tmp_path):
    study = write_study(tmp_path / "s.toml")
    script = tmp_path / "slow_cli.py"
    script.write_text(SLOW_CLI)
    out = tmp_path / "r.csv"
    command = [sys.executable, str(script), "-q", "study", str(study), "-o", str(out), "--workers", "1", "--no-plots"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                             env=subprocess_env()) for _ in range(2)]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]
    assert sorted(rc for rc, _, _ in results) == [0, 1], results
    _, _, err = next(r for r in results if r[0] == 1)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("microsim: error: "), err
    assert f"{out} is being written by another study run (pid " in lines[0] and "choose another -o" in lines[0]
    rows = rows_of(out)
    keys = [(r["point_id"], r["seed"]) for r in rows]
    assert len(rows) == 2 and len(set(keys)) == len(keys)
    assert not (tmp_path / ".r.csv.lock").exists()  # released by the run that held it


def test_the_lock_is_released_and_taken_again(tmp_path):
    out = tmp_path / "r.csv"
    with runner.TableLock(out) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())
        with pytest.raises(runner.TableLockedError, match=rf"being written by another study run \(pid {os.getpid()}\)"):
            runner.TableLock(out).acquire()
        with pytest.raises(BlockingIOError):  # a builtin too
            run_study(Study("x", base=TINY, points=[{}]), out, workers=1)
    assert not lock.path.exists()
    with runner.TableLock(out):
        pass


# -- 2. no orphan workers -------------------------------------------------------------------
COORDINATOR = """
import os, sys, time
from pathlib import Path

def slow(point, seed, axes, slabs, threads):
    Path(os.environ["MICROSIM_TEST_MARKERS"], str(os.getpid())).touch()
    time.sleep(60)
    raise RuntimeError("not reached in the test")

if __name__ == "__main__":
    from microsim.design import Study, run_study

    base = {"shape": [16, 16, 16], "voxel_size": "0.5um", "cam_d50": "3um", "se_d50": "1.5um"}
    run_study(Study("orphans", base=base, grid={"cam_fraction": [0.6, 0.7]}), sys.argv[1], workers=2, task=slow)
"""


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has exited already


@ON_LINUX_PROC
def test_workers_die_with_a_killed_coordinator(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    script = tmp_path / "coordinator.py"
    script.write_text(COORDINATOR)
    coordinator = subprocess.Popen([sys.executable, str(script), str(tmp_path / "r.csv")], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=subprocess_env(MICROSIM_TEST_MARKERS=str(markers)))
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and coordinator.poll() is None:
            workers = [int(p.name) for p in markers.iterdir()]
            time.sleep(0.05)
        assert len(workers) == 2, coordinator.communicate(timeout=5)
        assert all(proc_stat(pid)[1] == coordinator.pid for pid in workers)  # its own children, both in a point
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait(timeout=5)
        killed = time.monotonic()
        while any(alive(pid) for pid in workers) and time.monotonic() - killed < 5:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "worker processes outlived their coordinator"
        coordinator.communicate(timeout=5)  # and nobody holds the coordinator's pipes open any more
    finally:
        for pid in workers:  # leave nothing behind, whatever happened
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if coordinator.poll() is None:
            coordinator.kill()
            coordinator.wait()


# -- 3. too large, refused up front ---------------------------------------------------------
def test_a_million_points_are_refused_at_once_with_an_estimate(tmp_path):
    started = time.perf_counter()
    with pytest.raises(InvalidInputError) as caught:
        Study("huge", base=TINY, grid={"cam_fraction": [0.5 + 0.3 * i / 999 for i in range(1000)],
                                       "thickness": [f"{50 + i * 0.01}um" for i in range(1000)]}, seeds=[1, 2])
    assert time.perf_counter() - started < 2.0  # counted, not built
    message = str(caught.value)
    assert "2,000,000 rows (1,000,000 points x 2 seeds), over the limit of 100,000" in message
    assert " h on one core" in message and "per worker (estimates)" in message
    assert "split the grid" in message and "reduce the seeds" in message and "max_rows = 2000000" in message
    # the way round, from a study file
    path = write_study(tmp_path / "s.toml", grid="cam_fraction = [0.6, 0.65, 0.7]", seeds="[1, 2]")
    path.write_text("max_rows = 4\n" + path.read_text())
    with pytest.raises(InvalidInputError, match="6 rows .* over the limit of 4"):
        load_study(path)
    path.write_text(path.read_text().replace("max_rows = 4", "max_rows = 6"))
    assert len(load_study(path).tasks()) == 6
    with pytest.raises(InvalidInputError, match="max_rows must be a positive integer"):
        Study("x", base=TINY, points=[{}], max_rows=0)


def test_a_point_too_large_for_the_memory_is_refused_before_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "physical_memory_bytes", lambda: 2**30)
    study = tmp_path / "s.toml"
    study.write_text(f'name = "big"\n{TINY_TOML.replace("[16, 16, 16]", "[512, 512, 512]")}[grid]\n'
                     'cam_fraction = [0.6, 0.7]\n')
    assert main(["-q", "study", str(study), "-o", str(tmp_path / "r.csv")]) == 1
    one_error_line(capsys, "512x512x512 = 134,217,728 voxels) needs about 40.4 GB per worker (estimate), "
                           "this machine has 1.1 GB")
    no_files_but(tmp_path, "s.toml")
    with pytest.raises(ResourceError, match="needs about 40.4 GB") as caught:
        run_study(load_study(study), tmp_path / "r.csv", workers=1)
    assert isinstance(caught.value, MemoryError)  # a builtin too
    no_files_but(tmp_path, "s.toml")


def test_local_workers_are_lowered_to_what_the_memory_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "physical_memory_bytes", lambda: int(1.5 * row_bytes(16**3)))
    run = run_study(Study("x", base=TINY, grid={"cam_fraction": [0.6, 0.7]}), tmp_path / "r.csv", workers=2)
    assert run.ok == 2
    assert {r["worker"].rsplit(":", 1)[1] for r in rows_of(tmp_path / "r.csv")} == {str(os.getpid())}  # in-process


# -- 4. an empty study is refused -----------------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("", "is empty: it needs a [grid] of values or [[points]]"),
    ("# nothing yet\n\n", "is empty"),
    ('name = "x"\n' + TINY_TOML + "[grid]\n", "the study has no design point: give a [grid] of values or [[points]]"),
    ('name = "x"\n' + TINY_TOML, "the study has no design point"),
])
def test_an_empty_study_is_one_line(tmp_path, capsys, text, match):
    (tmp_path / "s.toml").write_text(text)
    assert main(["study", str(tmp_path / "s.toml"), "-o", str(tmp_path / "r.csv")]) == 1
    one_error_line(capsys, match)
    no_files_but(tmp_path, "s.toml")


def test_one_empty_point_is_the_base_design(tmp_path):
    (tmp_path / "s.toml").write_text('name = "x"\n' + TINY_TOML + "[[points]]\n")
    assert [p["shape"] for p in load_study(tmp_path / "s.toml").design_points()] == [(16, 16, 16)]


# -- 5. a scheduler without workers ---------------------------------------------------------------
def test_a_scheduler_without_workers_leaves_no_file(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(runner, "SCHEDULER_TIMEOUT_S", 0.5)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with pytest.raises(InvalidInputError, match="has no worker after 0.5 s; start one"):
            run_study(Study("x", base=TINY, points=[{}]), tmp_path / "r.csv", scheduler=client)
    no_files_but(tmp_path)


# -- 6. a damaged table ---------------------------------------------------------------------------
def test_a_damaged_row_names_its_line_not_another_study(tmp_path, capsys):
    study = write_study(tmp_path / "s.toml", grid="cam_fraction = [0.6]")
    out = tmp_path / "r.csv"
    assert main(["-q", "study", str(study), "-o", str(out), "--workers", "1", "--no-plots"]) == 0
    good = out.read_text()
    header, row = good.splitlines()
    fields = next(csv.reader([row]))
    def line(values):  # quoted as the table quotes them (the versions column may hold commas)
        buffer = io.StringIO()
        csv.writer(buffer).writerow(values)
        return buffer.getvalue().rstrip("\r\n")

    damaged = {
        "garbage,with,a,few,fields": "5 fields where the header has",
        line(fields + ["extra"]): f"{len(fields) + 1} fields where the header has {len(fields)}",
        line(fields[:1] + [""] + fields[2:]): "study_id '' is not a 12-digit hash",
        line(fields[:3] + ["one"] + fields[4:]): "seed 'one' is not a non-negative integer",
    }
    for line, problem in damaged.items():
        out.write_text(f"{good}{line}\n{row}\n")
        assert main(["-q", "study", str(study), "-o", str(out), "--workers", "1", "--no-plots"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{out} is damaged at line 3: {problem}" in err, err
        assert "remove that line (its point runs again) or pass --force" in err and "another study" not in err
    out.write_text(good)  # the line removed: resumes with nothing to run
    assert main(["-q", "study", str(study), "-o", str(out), "--workers", "1", "--no-plots"]) == 0
    assert out.read_text() == good


# -- 7. the output is not the study file ---------------------------------------------------------
def test_an_output_that_is_the_study_file_is_refused(tmp_path, capsys):
    study = write_study(tmp_path / "s.toml")
    text = study.read_text()
    (tmp_path / "link.csv").symlink_to(study)
    os.link(study, tmp_path / "hard.csv")
    derived = write_study(tmp_path / "r.summary.csv")  # the summary of -o r.csv
    for out, source in [(study, study), (tmp_path / "link.csv", study), (tmp_path / "hard.csv", study),
                        (tmp_path / "r.csv", derived)]:
        assert main(["-q", "study", str(source), "-o", str(out), "--force"]) == 1
        one_error_line(capsys, f"is the study file {source} itself; write the results to another file")
        assert study.read_text() == text and derived.read_text() == text
    no_files_but(tmp_path, "s.toml", "link.csv", "hard.csv", "r.summary.csv")
