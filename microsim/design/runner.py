"""Running a study: a resumable results table, local processes or a Dask cluster.

Rows are appended to the CSV one finished (point, seed) at a time, flushed and
synced, by the coordinating process only. Running the same study again reads the
table, keeps every finished row (``ok`` or ``failed``), and runs only what is
missing; a half-written last line (a killed run) is dropped first. A table written
by another study (different fixed values, swept variables, axes or slabs: the
``study_id`` column) is refused rather than mixed.

Execution engines, both existing ones: ``concurrent.futures`` process pools on this
machine (``workers``), or a Dask ``distributed`` cluster (``scheduler``: an address
or a ``Client``). A point that raises is a ``failed`` row with its error; a worker
process that dies breaks the pool and every point in flight: each of those is rerun
alone, and the one that kills its worker again is recorded as failed.

Safety, before anything is written: an output path that is the study file itself is
refused; a point too large for this machine's memory is refused (and the local
workers are lowered to what the memory holds), from :func:`~microsim.design.study.row_bytes`;
the Dask scheduler is reached and has a worker. During the run the table is locked
(an exclusive ``flock`` on ``.<table>.lock`` beside it): a second run on the same
table is refused. Local workers die with their coordinator, however it ends
(``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread everywhere).
"""

from __future__ import annotations

import csv
import ctypes
import datetime
import fcntl
import functools
import io
import logging
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from microsim.design.evaluate import evaluate, output_columns
from microsim.design.study import DesignPoint, Study, format_bytes, format_hours, lookup, row_bytes, row_seconds
from microsim.errors import InputFileError, InvalidInputError, MicrosimError, MissingDependencyError, ResourceError

log = logging.getLogger(__name__)

KEY_COLUMNS = ["study", "study_id", "point_id", "seed", "status", "error"]
TRAILER_COLUMNS = ["seconds", "worker", "versions", "finished_utc"]
SCHEDULER_TIMEOUT_S = 5.0
"""Seconds to reach a Dask scheduler, and again for it to have a worker."""
PARENT_POLL_S = 1.0
"""Seconds between a worker's checks that its coordinator is still alive."""
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_HASH = re.compile(r"[0-9a-f]{12}")


class StudyInterrupted(MicrosimError, KeyboardInterrupt):
    """A study stopped by the user; the finished rows are in the table."""


class TableLockedError(MicrosimError, BlockingIOError):
    """The results table is being written by another study run."""


def input_columns(study: Study) -> list[str]:
    """The table columns that hold a point's inputs."""
    names = list(DesignPoint({}).values)
    names += [n for p in study.design_points() for n in p.values if n not in names]
    return list(dict.fromkeys(lookup(name).column for name in names))


def table_columns(study: Study) -> list[str]:
    """Every column of the study's table, in order."""
    return KEY_COLUMNS + input_columns(study) + output_columns(study.axes) + TRAILER_COLUMNS


def _versions() -> str:
    from microsim.export.report import software_versions

    return "; ".join(f"{k} {v}" for k, v in software_versions().items())


def run_point(point: DesignPoint, seed: int, axes, slabs: int, threads: int | None = None) -> dict:
    """Evaluate one (point, seed) and return its row; an error becomes a ``failed`` row."""
    from microsim.transport.solvers import AMGSolver

    started = time.perf_counter()
    row = {"point_id": point.id(), "seed": seed, **point.row()}
    try:
        row.update(evaluate(point, seed, axes=axes, slabs=slabs, solver=AMGSolver(workers=threads)))
        row["status"], row["error"] = "ok", ""
    except Exception as exc:  # noqa: BLE001 - any failure of one point is recorded, the study goes on
        row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}".replace("\n", " ")
        log.debug("point %s seed %s failed", point.id(), seed, exc_info=True)
    row["seconds"] = time.perf_counter() - started
    row["worker"] = f"{os.uname().nodename}:{os.getpid()}"
    row["versions"] = _versions()
    row["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return row


def _damage(row: dict) -> str | None:
    """What makes a row of a results table unreadable, or None."""
    if None in row:
        return f"{len(row) - 1 + len(row[None])} fields where the header has {len(row) - 1}"
    if any(value is None for value in row.values()):
        return f"{sum(v is not None for v in row.values())} fields where the header has {len(row)}"
    for key in ("study_id", "point_id"):
        if not _HASH.fullmatch(row[key]):
            return f"{key} {row[key]!r} is not a 12-digit hash"
    if not row["seed"].isdigit():
        return f"seed {row['seed']!r} is not a non-negative integer"
    if row["status"] not in ("ok", "failed"):
        return f"status {row['status']!r} is neither ok nor failed"
    return None


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)
    return str(value)


class ResultsTable:
    """The study's CSV: created with its header, checked and repaired on resume, appended row by row."""

    def __init__(self, path: str | Path, study: Study, *, force: bool = False, retry_failed: bool = False):
        self.path = Path(path)
        self.retry_failed = retry_failed
        self.study = study
        self.columns = table_columns(study)
        self.done: dict[tuple[str, int], str] = {}
        if self.path.exists() and force:
            self.path.unlink()
        if self.path.exists():
            self._resume()
        else:
            self._create()

    def _create(self) -> None:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise InputFileError(f"cannot write {self.path}: folder {folder} does not exist")
        tmp = self.path.with_name(f".{self.path.name}.part")
        with open(tmp, "w", newline="") as handle:
            csv.writer(handle).writerow(self.columns)
        os.replace(tmp, self.path)

    def _rewrite(self, text: str) -> None:
        tmp = self.path.with_name(f".{self.path.name}.part")
        tmp.write_text(text)
        os.replace(tmp, self.path)

    def _resume(self) -> None:
        text = self.path.read_text()
        if text and not text.endswith("\n"):  # a run killed while writing its last row
            text = text[: text.rfind("\n") + 1]
            self._rewrite(text)
            log.warning("dropped a half-written last row of %s", self.path)
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames != self.columns:
            raise InvalidInputError(
                f"{self.path} holds another study's table (its columns differ); "
                f"write to a new file or pass --force to start it over")
        ours = self.study.id()
        for row in reader:
            problem = _damage(row)
            if problem:
                raise InvalidInputError(
                    f"{self.path} is damaged at line {reader.line_num}: {problem}; remove that line (its point "
                    f"runs again) or pass --force to start the table over")
            if row["study_id"] != ours:
                raise InvalidInputError(
                    f"{self.path} was written by another study (study_id {row['study_id']}, this study {ours}: "
                    f"fixed values, swept variables, axes or slabs differ); write to a new file or pass --force")
            self.done[(row["point_id"], int(row["seed"]))] = row["status"]
        failed = [key for key, status in self.done.items() if status != "ok"]
        if self.retry_failed and failed:  # drop them, so that their new rows take their place
            rows = list(csv.reader(io.StringIO(text)))
            status = self.columns.index("status")
            buffer = io.StringIO()
            csv.writer(buffer).writerows([rows[0]] + [row for row in rows[1:] if row[status] == "ok"])
            self._rewrite(buffer.getvalue())
            for key in failed:
                del self.done[key]
            log.info("%s: %d failed rows removed, to run again", self.path, len(failed))

    def append(self, row: dict) -> None:
        """Write one row and make it durable before returning."""
        row = {**row, "study": self.study.name, "study_id": self.study.id()}
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([_format(row.get(c)) for c in self.columns])
            handle.flush()
            os.fsync(handle.fileno())
        self.done[(row["point_id"], int(row["seed"]))] = row["status"]


def study_outputs(table: str | Path) -> dict[str, Path]:
    """The files written beside a results table: its summary and its plots."""
    stem = Path(table).with_suffix("")
    return {"summary": Path(f"{stem}.summary.csv"), "energy": Path(f"{stem}.energy.png"),
            "bruggeman": Path(f"{stem}.bruggeman.png")}


def _lock_path(table: Path) -> Path:
    return table.with_name(f".{table.name}.lock")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_outputs(study: Study, table: str | Path) -> None:
    """Refuse a results table, or a file written beside it, that is the study file itself."""
    if study.source is None:
        return
    table = Path(table)
    paths = [table, _lock_path(table), table.with_name(f".{table.name}.part"), *study_outputs(table).values()]
    for path in paths:
        if _same_file(path, study.source):
            raise InvalidInputError(f"the output {path} is the study file {study.source} itself; "
                                    f"write the results to another file (-o)")


class TableLock:
    """An exclusive advisory lock (``flock``) on ``.<table>.lock`` beside a results table.

    Held by one study run at a time, for its whole run; a second run is refused at
    once (non-blocking). The kernel releases it when the process dies, however it
    dies; the lock file (holding the owner's pid) is removed on release.
    """

    def __init__(self, table: str | Path):
        self.table = Path(table)
        self.path = _lock_path(self.table)
        self._fd: int | None = None

    def acquire(self) -> None:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise InputFileError(f"cannot write {self.table}: folder {folder} does not exist")
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise TableLockedError(f"{self.table} is being written by another study run (pid {self._owner()}); "
                                       f"wait for it or choose another -o") from None
            except OSError as exc:
                os.close(fd)
                raise InputFileError(f"cannot lock {self.path}: {exc}") from None
            try:  # the file may have been removed by its last owner between our open and our lock
                current = os.stat(self.path)
            except FileNotFoundError:
                os.close(fd)
                continue
            mine = os.fstat(fd)
            if (mine.st_dev, mine.st_ino) != (current.st_dev, current.st_ino):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return

    def _owner(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()  # while still holding it: a waiting run then retries on a new file
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> TableLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def physical_memory_bytes() -> int | None:
    """This machine's physical memory [bytes] (``SC_PHYS_PAGES`` x ``SC_PAGE_SIZE``), or None if unknown."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _voxels(point: DesignPoint) -> int:
    return math.prod(point["shape"])


def check_fits(tasks) -> None:
    """Refuse, before anything runs, a point whose estimated peak memory
    (:func:`~microsim.design.study.row_bytes`) exceeds this machine's physical memory."""
    memory = physical_memory_bytes()
    if not tasks or memory is None:
        return
    largest = max((p for p, _ in tasks), key=_voxels)
    need = row_bytes(_voxels(largest))
    if need > memory:
        shape = "x".join(map(str, largest["shape"]))
        raise ResourceError(
            f"design point {largest.id()} ({shape} = {_voxels(largest):,} voxels) needs about {format_bytes(need)} "
            f"per worker (estimate), this machine has {format_bytes(memory)}: use a smaller shape or coarser voxels, "
            f"or run on a Dask cluster with larger workers (--scheduler)")


def plan_workers(todo, study: Study, workers: int, *, local: bool = True) -> int:
    """The local workers to use for ``todo``, and a log line with the estimated time.

    More workers than the physical memory holds at the largest point are lowered,
    with a warning. On a Dask cluster (``local=False``) the memory is the cluster's:
    only the time is estimated (per core).
    """
    if not todo:
        return workers
    seconds = sum(row_seconds(_voxels(p), len(study.axes)) for p, _ in todo)
    need = max(row_bytes(_voxels(p)) for p, _ in todo)
    if not local:
        log.info("%d rows to run: about %s of one core (estimate; %s per worker)", len(todo),
                 format_hours(seconds), format_bytes(need))
        return workers
    workers = min(workers, len(todo))
    memory = physical_memory_bytes()
    fits = max(1, memory // need) if memory is not None else workers
    if fits < workers:
        log.warning("%d workers instead of %d: each needs about %s at the largest point, this machine has %s",
                    fits, workers, format_bytes(need), format_bytes(memory))
        workers = int(fits)
    log.info("%d rows to run: about %s on %d worker%s (estimate; %s per worker)", len(todo),
             format_hours(seconds / workers), workers, "s" * (workers > 1), format_bytes(need))
    return workers


@dataclass(frozen=True)
class StudyRun:
    """What one call of :func:`run_study` did."""

    path: Path
    total: int
    skipped: int
    ok: int
    failed: int
    seconds: float


def read_table(path: str | Path) -> list[dict]:
    """The rows of a results table, numbers as floats where they parse."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise InputFileError(f"results table {path} does not exist") from None

    def convert(value: str):
        try:
            return float(value)
        except ValueError:
            return value

    return [{k: convert(v) if k not in ("point_id", "study_id") else v for k, v in row.items()} for row in rows]


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def _die_with_parent(parent: int) -> None:
    """Worker initializer: exit when the coordinating process ``parent`` dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill this process when
    the thread that started it ends (the pools are made and fed by the thread that
    runs :func:`run_study`, alive for the pool's life). Everywhere: a daemon thread
    that exits the process once its parent is gone (``os.getppid`` changes when an
    orphan is adopted), within :data:`PARENT_POLL_S`.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the prctl
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="microsim-parent-watch", daemon=True).start()


def _local(tasks, study: Study, workers: int, done: Callable[[dict], None], task) -> None:
    """Run ``tasks`` on a pool of ``workers`` spawned processes.

    A dying worker breaks the whole pool and every point in flight with it; those
    points are suspects, each rerun alone in a pool of its own: the one that kills
    that pool too is recorded as failed, the others get their rows.
    """
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = list(range(len(tasks)))
    suspects: list[int] = []
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(dict.fromkeys(saved, str(threads)))  # spawned workers inherit it: no oversubscription
    try:
        while pending:
            alone = [suspects.pop(0)] if suspects else None
            size = 1 if alone else workers
            pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_die_with_parent, initargs=(os.getpid(),))
            queue, running, stopping = list(alone or [i for i in pending if i not in suspects]), {}, False
            try:
                while queue or running:
                    while queue and len(running) < size:  # only `size` in flight: the suspects are known
                        i = queue.pop(0)
                        running[pool.submit(task, *tasks[i], study.axes, study.slabs, threads)] = i
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        row = future.result()  # BrokenProcessPool when a worker died
                        i = running.pop(future)
                        pending.remove(i)
                        done(row)
            except BrokenProcessPool:
                if alone:
                    point, seed = tasks[alone[0]]
                    log.warning("point %s seed %s killed its worker process; recorded as failed", point.id(), seed)
                    done({"point_id": point.id(), "seed": seed, **point.row(), "status": "failed",
                          "error": "the worker process died on this point (killed, or out of memory)"})
                    pending.remove(alone[0])
                else:
                    suspects += list(running.values())
                    log.warning("a worker process died; rerunning the %d points it may have held one by one",
                                len(running))
            except KeyboardInterrupt:
                stopping = True
                raise
            finally:
                pool.shutdown(wait=not stopping, cancel_futures=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@functools.cache
def _allocator_for_arrays() -> None:
    """Undo Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` for this worker process.

    Dask's nanny sets that variable to return memory to the system early; glibc then
    also stops adapting its mmap threshold, so every array of a solve is a fresh
    ``mmap`` with page faults on first touch. Measured: the transport of a 64³ point
    took 3.7 s instead of 1.9 s. Arrays up to 32 MB come from the heap again, and
    the heap is trimmed above 256 MB (glibc only; elsewhere nothing changes).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _on_dask_worker(task, *args) -> dict:
    _allocator_for_arrays()
    return task(*args)


def connect(scheduler):
    """A ``distributed.Client`` of ``scheduler`` (an address or a client) that has a worker.

    Returns the client; the caller closes it when it is not ``scheduler`` itself.
    Each wait is at most :data:`SCHEDULER_TIMEOUT_S`.
    """
    try:
        from distributed import Client
    except ImportError:
        raise MissingDependencyError(
            "a Dask scheduler needs the distributed package: pip install 'microsim[dask]'") from None
    try:
        client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidInputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError):
        if client is not scheduler:
            client.close()
        where = f"at {scheduler}" if isinstance(scheduler, str) else "of the client"
        raise InvalidInputError(f"the Dask scheduler {where} has no worker after {SCHEDULER_TIMEOUT_S:g} s; "
                                f"start one (dask worker ADDRESS) and run again") from None
    return client


def _dask(tasks, study: Study, client, done: Callable[[dict], None], task) -> None:
    from distributed import as_completed

    try:
        futures = {client.submit(_on_dask_worker, task, point, seed, study.axes, study.slabs, 1, pure=False):
                   (point, seed)
                   for point, seed in tasks}
        for future in as_completed(futures):
            point, seed = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker and the like: record, go on
                row = {"point_id": point.id(), "seed": seed, **point.row(), "status": "failed",
                       "error": f"{type(exc).__name__}: {exc}".replace("\n", " ")}
            done(row)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


def run_study(
    study: Study,
    path: str | Path,
    *,
    workers: int | None = None,
    scheduler=None,
    force: bool = False,
    retry_failed: bool = False,
    progress: Callable[[int, int, dict], None] | None = None,
    task: Callable[..., dict] = run_point,
) -> StudyRun:
    """Run every missing (point, seed) of ``study`` and append its row to the CSV at ``path``.

    Parameters
    ----------
    study : Study
    path : str or Path
        Results table (CSV). Created with its header; resumed when it exists.
    workers : int, optional
        Local worker processes (default: every core). 1 runs in this process.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``tcp://host:8786``) or client: run there instead.
    force : bool
        Delete an existing table first and run everything.
    retry_failed : bool
        Remove the table's ``failed`` rows and run those (point, seed) again (by
        default a failed row is a finished row).
    progress : callable(done, total, row), optional
        Called after each row is written.
    task : callable(point, seed, axes, slabs, threads) -> row
        What runs one (point, seed): :func:`run_point`, or a wrapper of it (it must
        be importable by the worker processes).

    Returns
    -------
    StudyRun

    Raises
    ------
    InvalidInputError
        The table belongs to another study, or is damaged; the table (or a file
        written beside it) is the study file; the scheduler cannot be reached or has
        no worker.
    TableLockedError
        Another run is writing the same table.
    ResourceError
        A point needs more memory than this machine has (local workers).
    StudyInterrupted
        Ctrl-C: the rows written so far stay, the same call resumes.

    Notes
    -----
    Everything that can be refused is refused before the table is created or
    changed: the output paths, the points' memory, the lock, the scheduler.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    check_outputs(study, path)
    tasks = study.tasks()
    if scheduler is None:  # on a cluster the memory is the workers'
        check_fits(tasks)
    with TableLock(path):
        client = connect(scheduler) if scheduler is not None else None
        try:
            return _run_locked(study, path, tasks, started, workers=workers, client=client, force=force,
                               retry_failed=retry_failed, progress=progress, task=task)
        finally:
            if client is not None and client is not scheduler:
                client.close()


def _run_locked(study: Study, path, tasks, started: float, *, workers: int, client, force: bool,
                retry_failed: bool, progress, task) -> StudyRun:
    table = ResultsTable(path, study, force=force, retry_failed=retry_failed)
    todo = [(p, s) for p, s in tasks if (p.id(), s) not in table.done]
    skipped = len(tasks) - len(todo)
    if skipped:
        log.info("%s: %d of %d rows already done, %d to run", table.path, skipped, len(tasks), len(todo))
    workers = plan_workers(todo, study, workers, local=client is None)
    counts = {"ok": 0, "failed": 0}

    def done(row: dict) -> None:
        table.append(row)
        counts[row["status"]] += 1
        if progress is not None:
            progress(skipped + counts["ok"] + counts["failed"], len(tasks), row)

    try:
        if not todo:
            pass
        elif client is not None:
            _dask(todo, study, client, done, task)
        elif workers == 1 or len(todo) == 1:
            for point, seed in todo:
                done(task(point, seed, study.axes, study.slabs, None))
        else:
            _local(todo, study, min(workers, len(todo)), done, task)
    except KeyboardInterrupt:
        finished = skipped + counts["ok"] + counts["failed"]
        raise StudyInterrupted(f"interrupted: {finished} of {len(tasks)} rows are in {table.path}; "
                               f"run the same command again to resume") from None
    return StudyRun(table.path, len(tasks), skipped, counts["ok"], counts["failed"], time.perf_counter() - started)


def progress_log() -> Callable[[int, int, dict], None]:
    """A progress callback that logs a line per row with its result and the time left."""
    started = time.perf_counter()
    first_done: int | None = None

    def report(done: int, total: int, row: dict) -> None:
        nonlocal first_done
        first_done = done if first_done is None else first_done
        left = (time.perf_counter() - started) / (done - first_done + 1) * (total - done)
        if row["status"] == "ok":
            what = (f"{row['specific_energy_Wh_per_kg']:.1f} Wh/kg, "
                    f"sigma_eff {row['sigma_eff_cell_S_per_cm']:.3g} S/cm")
        else:
            what = f"FAILED: {row['error']}"
        log.info("[%d/%d] point %s seed %s: %s (%.1f s; about %.0f s left)", done, total, row["point_id"],
                 row["seed"], what, row.get("seconds") or 0.0, left)

    return report
