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
from conformance.runner import PropertyResult


def run_isolated(spec, property_ids, *, profile, max_examples=None, seed=None, timeout=600, on_result=None,
                 checkpoint=None):
    """(backend name, [result dicts]) for one backend spec, each property under a time limit."""
    remaining = list(property_ids)
    results, name = [], spec
    while remaining:
        request = {"spec": spec, "properties": remaining, "profile": profile, "max_examples": max_examples, "seed": seed,
                   "checkpoint": checkpoint}
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
                        results.append(_error(pid, event["message"], on_result, name))
                    return name, results
                if event["event"] == "backend":
                    name = event["name"]
                elif event["event"] == "start":
                    current, deadline = event["property"], time.monotonic() + timeout
                elif event["event"] == "result":
                    results.append(event["result"])
                    remaining.remove(event["result"]["id"])
                    if on_result:
                        on_result(name, event["result"])
                    current = None
            if not remaining:
                break
            failed = current or remaining[0]
            results.append(_error(failed, why, on_result, name))
            remaining.remove(failed)
    order = {pid: i for i, pid in enumerate(property_ids)}
    return name, sorted(results, key=lambda r: order[r["id"]])


def _error(pid, message, on_result, name):
    result = PropertyResult(pid, "error", REGISTRY[pid].core, message=message).to_dict()
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
