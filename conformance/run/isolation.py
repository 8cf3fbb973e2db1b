"""The parent side of gpt2_conformance.run.worker: timeouts, crashes and restarts.

One worker process runs a backend's properties, then probes its input contract (gpt2_conformance.run.contract).
When the process dies or stops answering, the property or probe in flight is charged with it and a
new process goes on with the rest; when that happens before the first property (while importing the
backend or running the essentials check), every property is blocked by that one cause.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from gpt2_conformance.backends import Capabilities, Subject
from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.judge.runner import PropertyResult, blocked
from gpt2_conformance.outcomes import Kind, Status
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.run.contract import BAD_INPUTS
from gpt2_conformance.run.worker import ESSENTIALS, IMPORT


@dataclass
class BackendRun:
    """One backend's run: what is left to do, and what came back (capabilities: None until the backend
    imports; contract: {bad input: {guard, outcome, backend}}, None where not probed)."""

    spec: str
    properties: list
    probes: list
    subject: Subject = Subject.MODEL
    name: str = ""
    capabilities: Capabilities | TokenizerCapabilities | None = None
    results: list = field(default_factory=list)
    contract: dict | None = None
    current: str | None = None  # the property (or IMPORT, ESSENTIALS) in flight
    probing: str | None = None  # the bad input in flight

    def __post_init__(self):
        self.name = self.name or self.spec
        self.contract = {probe: {} for probe in self.probes} if self.probes else None

    def left(self):
        return bool(self.properties or self.probes)


def run_isolated(spec, property_ids, *, profile, max_examples=None, seed=None, timeout=600, on_result=None,
                 on_progress=None, save_dir=None, checkpoint=None, expectations=(), contract=False,
                 subject=Subject.MODEL, shard=None, database=None):
    """The BackendRun of one backend spec (of subject: a model or a tokenizer), each property and probe under
    a time limit.

    on_result(name, PropertyResult) and on_progress(name, property id, examples so far) follow the run;
    failing examples are saved to save_dir for `replay`; checkpoint: the directory of weights to run on
    instead of generated ones; expectations: expectation file paths; contract: also probe what the
    backend does with bad inputs ({bad input: {guard, outcome, backend}}, else None); shard: (Shard, the
    backend's position in the run) where the run is sharded: its worker deals property_ids' units; database: where
    Hypothesis' example database is (cases/databases.py), or None.
    """
    run = BackendRun(spec, list(property_ids), list(BAD_INPUTS) if contract else [], subject)
    request = {"spec": spec, "subject": subject, "profile": profile, "max_examples": max_examples, "seed": seed,
               "save_dir": str(save_dir) if save_dir else None, "checkpoint": checkpoint,
               "expectations": [str(p) for p in expectations], "database": database}
    if shard:
        request["shard"] = {**shard[0].to_dict(), "offset": shard[1], "properties": list(property_ids)}
    while run.left():
        ended, why = _serve(request, run, timeout, on_result, on_progress)
        if ended == "fatal":
            _block_the_rest(run, why, on_result)
        elif ended in ("died", "hung"):
            _charge(run, ended, why, timeout, on_result)
    order = {pid: i for i, pid in enumerate(property_ids)}
    run.results.sort(key=lambda r: order[r.id])
    return run


def _serve(request, run, timeout, on_result, on_progress):
    """Start a worker on what is left and follow its events until it ends: ("done" | "fatal" | "died" |
    "hung", why)."""
    request = {**request, "properties": run.properties, "probes": run.probes}
    with tempfile.TemporaryFile("w+") as stderr:
        # -P: the current directory does not come first on sys.path, so a backend repository's own
        # `reference` package cannot shadow the suite's (backends.resolve still finds modules there).
        proc = subprocess.Popen([sys.executable, "-P", "-m", "gpt2_conformance.run.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
        run.current = run.probing = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _kill(proc)
                return "hung", f"no result within {timeout:g} s: the backend hung or is too slow (raise --timeout)"
            if line is None:
                proc.wait()
                if not run.left():
                    return "done", None
                return "died", f"the backend's process died ({_exit_reason(proc.returncode)}); its last output:\n{_tail(stderr)}"
            event = json.loads(line)
            if event["event"] == "fatal":
                proc.wait()
                return "fatal", event["message"]
            if _follow(event, run, on_result, on_progress):
                deadline = time.monotonic() + timeout


def _follow(event, run, on_result, on_progress):
    """Update run with one event; True when a new property or probe starts (its own time limit)."""
    kind = event["event"]
    if kind == "backend":  # imported: nothing in flight until the essentials check or a probe starts
        declared = TokenizerCapabilities if run.subject == Subject.TOKENIZER else Capabilities
        run.name, run.capabilities = event["name"], declared.from_dict(event["capabilities"])
        run.current = None
    elif kind == "start":
        run.current = event["property"]
        if on_progress and run.current != IMPORT:
            on_progress(run.name, run.current, 0)
        return True
    elif kind == "example" and on_progress:
        on_progress(run.name, run.current, event["n"])
    elif kind == "result":
        _report(run, PropertyResult.from_dict(event["result"]), on_result)
        run.current = None
    elif kind == "probe":
        run.probing = event["input"]
        return True
    elif kind == "probed":
        run.contract[event["input"]][event["field"]] = event["value"]
        if event["field"] == "backend":
            run.probes.remove(event["input"])
            run.probing = None
    return False


def _charge(run, ended, why, timeout, on_result):
    """Blame what was in flight when the worker died or hung."""
    if run.current in (IMPORT, ESSENTIALS):  # it hangs or dies before any property: one cause for all
        _block_the_rest(run, why, on_result)
    elif run.properties:
        pid = run.current or run.properties[0]
        _report(run, PropertyResult(pid, Status.ERROR, REGISTRY[pid].core, kind=Kind.ERROR, message=why), on_result)
    else:  # the bad input in flight (or the process before the first) took it down, or hangs
        probe = run.probing or run.probes[0]
        run.contract[probe].update(outcome="hangs" if ended == "hung" else "crashes",
                                  backend=f"no answer within {timeout:g} s" if ended == "hung" else why.split(";")[0])
        run.probes.remove(probe)
        if ended == "hung":  # one hang per backend is enough to wait for
            _not_probed(run, "the backend hung on an earlier bad input")


def _block_the_rest(run, cause, on_result):
    for pid in list(run.properties):
        _report(run, blocked(REGISTRY[pid], cause, Kind.ERROR), on_result)
    _not_probed(run, cause)


def _not_probed(run, why):
    for probe in run.probes:
        run.contract[probe].update(outcome="not probed", backend=why)
    run.probes = []


def _report(run, result, on_result):
    run.results.append(result)
    run.properties.remove(result.id)
    if on_result:
        on_result(run.name, result)


def _kill(proc):
    """The worker and whatever it started (torch.compile and JAX start processes of their own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _exit_reason(code):
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _tail(f, lines=15):
    f.seek(0)
    return "\n".join(f.read().splitlines()[-lines:])
