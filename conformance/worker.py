"""Runs one backend's properties, then its input-contract probes, in a process of its own, so a
backend that hangs or aborts the process (llama.cpp does on some inputs) costs that backend one
property or probe, not the whole run (conformance.isolation restarts it for the rest).

Reads one JSON request on stdin; writes JSON events, one a line, on the original stdout. Whatever
the backend prints goes to stderr.
"""
import json
import os
import sys

ESSENTIALS = "essentials"  # the check before any property: load canonical params, forward, logits shape


def main():
    request = json.loads(sys.stdin.read())
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # a backend's prints must not corrupt the event stream

    def emit(**event):
        events.write(json.dumps(event, default=float) + "\n")

    from conformance import contract, profiles, replay, strategies
    from conformance.backends import BackendError, resolve
    from conformance.properties import REGISTRY
    from conformance.runner import blocked, essentials, run_property

    try:
        backend = resolve(request["spec"])
    except BackendError as e:
        emit(event="fatal", message=str(e))
        return
    if request.get("checkpoint"):
        strategies.use_checkpoint(request["checkpoint"])  # the parent has already validated it
    emit(event="backend", name=backend.name)
    failed = None
    if request["properties"]:
        emit(event="start", property=ESSENTIALS)
        failed = essentials(backend)
    for pid in request["properties"]:
        if failed:
            emit(event="result", result=blocked(REGISTRY[pid], failed[1], failed[0]).to_dict())
            continue
        emit(event="start", property=pid)
        result = run_property(REGISTRY[pid], backend, profile=profiles.get(request["profile"]),
                              max_examples=request.get("max_examples"), seed=request.get("seed"),
                              on_example=lambda n: emit(event="example", n=n))
        if result.failing_draws is not None and request.get("save_dir"):
            try:
                path = replay.save(request["save_dir"], spec=request["spec"], backend_name=backend.name, result=result)
                result.reproduction = f"gpt2-conformance replay {path} --backend {request['spec']}"
            except (replay.ReplayError, OSError) as e:
                result.message += f"\n(the failing example could not be saved: {e})"
        emit(event="result", result=result.to_dict())
    for name in request.get("probes", ()):
        emit(event="probe", input=name)
        contract.probe(backend, name, lambda name, field, value: emit(event="probed", input=name, field=field, value=value))


if __name__ == "__main__":
    main()
