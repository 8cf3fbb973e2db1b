"""certify -j N: one backend's work over N workers at once, on the cores of one machine.

The N workers are the N shards of the backend's work (judge/shards.py: its properties' size strata, dealt
round-robin), each run as run_isolated runs a backend, so each has its own time limits and restarts. A
property is joined as `merge` joins shards, once each worker has given its part, so its result and the
backend's verdict are an unsharded run's. Inside a shard of a run (--shard I/N), the workers split that
shard's work further, and each property keeps its records for merge.
"""
import os
import shutil
import threading
from pathlib import Path

from gpt2_conformance.backends import Subject
from gpt2_conformance.judge import expectations, shards
from gpt2_conformance.judge.runner import joined
from gpt2_conformance.run import replay
from gpt2_conformance.run.isolation import run_isolated


def usable_cpus():
    """The CPUs this process may run on (its affinity, which a container or taskset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def run_jobs(spec, property_ids, jobs, *, files=(), subject=Subject.MODEL, shard=None, contract=False, on_result=None,
             on_progress=None, **options):
    """The BackendRun of one backend spec, its work over `jobs` workers at once (run_isolated's options).

    files: the expectation files (Expectations) that judge each joined property; shard: (Shard, the backend's
    position in the run) where the run is a shard; contract: probe the input contract (in the first worker).
    on_result(name, PropertyResult) follows the joined properties, in the order they complete.
    """
    options.update(subject=subject, expectations=[f.path for f in files])
    if jobs == 1:
        return run_isolated(spec, property_ids, shard=shard, contract=contract, on_result=on_result,
                            on_progress=on_progress, **options)
    outer, position = shard or (shards.Shard(1, 1), 0)
    inner, save_dir = outer.split(jobs), options.pop("save_dir", None)
    # Several workers may each find a failure of one property (in searches that one worker would never have
    # reached): each saves into a directory of its own, and only the joined result's example is kept.
    saves = [save_dir and Path(save_dir) / f".worker{j + 1}" for j in range(jobs)]
    parts = {pid: [] for pid in property_ids}
    done, lock = {}, threading.Lock()

    def collect(name, result):
        with lock:
            parts[result.id].append(result)
            if len(parts[result.id]) == jobs:
                expected = expectations.entries_for(files, name, spec, subject)
                done[result.id] = _kept(_joined(result.id, parts[result.id], expected, name, shard is None), save_dir,
                                        spec, subject)
                if on_result:
                    on_result(name, done[result.id])

    def progress(j):
        def show(*args):
            with lock:
                on_progress(*args, worker=j)
        return on_progress and show

    runs, errors = [None] * jobs, []

    def work(j):
        try:
            runs[j] = run_isolated(spec, property_ids, shard=(inner[j], position), contract=contract and j == 0,
                                   on_result=collect, on_progress=progress(j), save_dir=saves[j],
                                   **options)
        except BaseException as e:  # the suite's own error: raised in the caller's thread, as with one worker
            errors.append(e)

    threads = [threading.Thread(target=work, args=(j,), daemon=True) for j in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for directory in filter(None, saves):
        shutil.rmtree(directory, ignore_errors=True)
    if errors:
        raise errors[0]
    run, imported = runs[0], next((r for r in runs if r.capabilities is not None), runs[0])
    run.name, run.capabilities = imported.name, imported.capabilities  # the first worker's may have died importing
    run.results = [done[pid] for pid in property_ids]
    return run


def _kept(result, save_dir, spec, subject):
    """result, the failing example its reproduction replays moved from its worker's directory to save_dir, named as
    one worker would have named it."""
    saved = replay.replayed(result.reproduction)
    if save_dir is None or saved is None:
        return result
    kept = replay.free_path(Path(save_dir), saved.stem, spec)
    os.replace(saved, kept)
    result.reproduction = replay.command(kept, spec, subject)
    return result


def _joined(pid, parts, expected, name, whole_run):
    """One property's result from the workers' parts; a worker that owned none of its searches says ELSEWHERE."""
    own = [p for p in parts if p.message != shards.ELSEWHERE]
    if not own:
        return parts[0]  # none of it is this shard's: certify leaves it out
    return joined(pid, own, expected, name, whole_run)
