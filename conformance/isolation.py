"""The parent side of conformance.worker: timeouts, crashes and restarts.

One worker process runs a backend's properties, then probes its input contract (conformance.contract).
When the process dies or stops answering, the property or probe in flight is charged with it and a
new process goes on with the rest.
"""
import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

from conformance.contract import BAD_INPUTS
from conformance.properties import REGISTRY
from conformance.runner import PropertyResult, blocked
from conformance.worker import ESSENTIALS


def run_isolated(spec, property_ids, *, profile, max_examples=None, seed=None, timeout=600, on_result=None,
                 on_progress=None, save_dir=None, checkpoint=None, contract=False):
    """(backend name, [result dicts], input contract) for one backend spec, each property and probe
    under a time limit.

    on_progress(name, property id, examples so far) follows the run; failing examples are saved
    to save_dir for `replay`; checkpoint: weights to run on instead of generated ones; contract: also
    probe what the backend does with bad inputs ({bad input: {guard, outcome, backend}}, else None).
    """
    remaining, probes = list(property_ids), list(BAD_INPUTS) if contract else []
    records = {probe: {} for probe in probes}
    results, name = [], spec
    while remaining or probes:
        request = {"spec": spec, "properties": remaining, "probes": probes, "profile": profile,
                   "max_examples": max_examples, "seed": seed, "save_dir": str(save_dir) if save_dir else None,
                   "checkpoint": checkpoint}
        with tempfile.TemporaryFile("w+") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "conformance.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=stderr, text=True)
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
            lines = queue.Queue()
            threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
            current, probing, deadline = None, None, time.monotonic() + timeout
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    proc.kill()
                    proc.wait()
                    hung = True
                    why = f"no result within {timeout} s: the backend hung or is too slow (raise --timeout)"
                    break
                if line is None:
                    proc.wait()
                    hung = False
                    why = f"the backend's process died ({_exit_reason(proc.returncode)}); its last output:\n{_tail(stderr)}"
                    break
                event = json.loads(line)
                if event["event"] == "fatal":
                    proc.wait()
                    for pid in remaining:
                        results.append(_report(blocked(REGISTRY[pid], event["message"], "error").to_dict(), on_result, name))
                    for probe in probes:
                        records[probe].update(outcome="not probed", backend=event["message"])
                    return name, results, records if contract else None
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
                elif event["event"] == "probe":
                    probing, deadline = event["input"], time.monotonic() + timeout
                elif event["event"] == "probed":
                    records[event["input"]][event["field"]] = event["value"]
                    if event["field"] == "backend":
                        probes.remove(event["input"])
                        probing = None
            if not (remaining or probes):
                break
            if current == ESSENTIALS:  # the backend hangs or dies on the smallest canonical model
                for pid in remaining:
                    results.append(_report(blocked(REGISTRY[pid], why, "error").to_dict(), on_result, name))
                remaining = []
            elif remaining:
                failed = current or remaining[0]
                results.append(_error(failed, why, on_result, name))
                remaining.remove(failed)
            else:  # the bad input in flight (or the process before the first) took it down, or hangs
                failed = probing or probes[0]
                records[failed].update(outcome="hangs" if hung else "crashes",
                                       backend=f"no answer within {timeout} s" if hung else
                                       f"the process died ({_exit_reason(proc.returncode)})")
                probes.remove(failed)
                if hung:  # one hang per backend is enough to wait for
                    for probe in probes:
                        records[probe].update(outcome="not probed", backend="the backend hung on an earlier bad input")
                    probes = []
    order = {pid: i for i, pid in enumerate(property_ids)}
    return name, sorted(results, key=lambda r: order[r["id"]]), records if contract else None


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
