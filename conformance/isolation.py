"""The parent side of conformance.worker: timeouts, crashes and restarts."""
import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

from conformance.properties import REGISTRY
from conformance.runner import PropertyResult, blocked
from conformance.worker import ESSENTIALS


def run_isolated(spec, property_ids, *, profile, max_examples=None, seed=None, timeout=600, on_result=None,
                 on_progress=None, save_dir=None, checkpoint=None):
    """(backend name, [result dicts]) for one backend spec, each property under a time limit.

    on_progress(name, property id, examples so far) follows the run; failing examples are saved
    to save_dir for `replay`; checkpoint: weights to run on instead of generated ones.
    """
    remaining = list(property_ids)
    results, name = [], spec
    while remaining:
        request = {"spec": spec, "properties": remaining, "profile": profile, "max_examples": max_examples, "seed": seed,
                   "save_dir": str(save_dir) if save_dir else None, "checkpoint": checkpoint}
        with tempfile.TemporaryFile("w+") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "conformance.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=stderr, text=True)
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
            lines = queue.Queue()
            threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
            current, deadline = None, time.monotonic() + timeout
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    proc.kill()
                    proc.wait()
                    why = f"no result within {timeout} s: the backend hung or is too slow (raise --timeout)"
                    break
                if line is None:
                    proc.wait()
                    why = f"the backend's process died ({_exit_reason(proc.returncode)}); its last output:\n{_tail(stderr)}"
                    break
                event = json.loads(line)
                if event["event"] == "fatal":
                    proc.wait()
                    for pid in remaining:
                        results.append(_report(blocked(REGISTRY[pid], event["message"], "error").to_dict(), on_result, name))
                    return name, results
                if event["event"] == "backend":
                    name = event["name"]
                elif event["event"] == "start":
                    current, deadline = event["property"], time.monotonic() + timeout
                    if on_progress:
                        on_progress(name, current, 0)
                elif event["event"] == "example":
                    if on_progress:
                        on_progress(name, current, event["n"])
                elif event["event"] == "result":
                    results.append(event["result"])
                    remaining.remove(event["result"]["id"])
                    if on_result:
                        on_result(name, event["result"])
                    current = None
            if not remaining:
                break
            if current == ESSENTIALS:  # the backend hangs or dies on the smallest canonical model
                for pid in list(remaining):
                    results.append(_report(blocked(REGISTRY[pid], why, "error").to_dict(), on_result, name))
                    remaining.remove(pid)
                break
            failed = current or remaining[0]
            results.append(_error(failed, why, on_result, name))
            remaining.remove(failed)
    order = {pid: i for i, pid in enumerate(property_ids)}
    return name, sorted(results, key=lambda r: order[r["id"]])


def _error(pid, message, on_result, name):
    return _report(PropertyResult(pid, "error", REGISTRY[pid].core, kind="error", message=message).to_dict(),
                   on_result, name)


def _report(result, on_result, name):
    if on_result:
        on_result(name, result)
    return result


def _exit_reason(code):
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _tail(f, lines=15):
    f.seek(0)
    return "\n".join(f.read().splitlines()[-lines:])
