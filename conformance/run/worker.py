"""Runs one backend's properties, then its input-contract probes, in a process of its own, so a
backend that hangs or aborts the process (llama.cpp does on some inputs) costs that backend one
property or probe, not the whole run (gpt2_conformance.run.isolation restarts it for the rest).

Reads one JSON request on stdin; writes JSON events, one a line, on the original stdout. Whatever
the backend prints goes to stderr.
"""
import json
import os
import sys

IMPORT = "import"  # resolving the spec: importing and constructing the backend
ESSENTIALS = "essentials"  # the check before any property: load and run the simplest input (judge.runner.essentials)


def main():
    request = json.loads(sys.stdin.read())
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # a backend's prints must not corrupt the event stream

    def emit(**event):
        events.write(json.dumps(event, default=float) + "\n")

    from gpt2_conformance.backends import BackendError, Subject, resolve

    emit(event="start", property=IMPORT)
    try:
        backend = resolve(request["spec"], Subject(request.get("subject", Subject.MODEL)))
    except BackendError as e:
        emit(event="fatal", message=str(e))
        return
    emit(event="backend", name=backend.name, capabilities=backend.capabilities.to_dict())
    if request["properties"]:
        run_properties(backend, request, emit)
    for name in request.get("probes", ()):
        from gpt2_conformance.run import contract

        emit(event="probe", input=name)
        contract.probe(backend, name, lambda name, field, value: emit(event="probed", input=name, field=field, value=value))


def run_properties(backend, request, emit):
    from gpt2_conformance.backends import Subject
    from gpt2_conformance.cases import checkpoints, databases, profiles, strategies
    from gpt2_conformance.judge import expectations, shards
    from gpt2_conformance.judge.runner import PropertyResult, blocked, essentials, run_property
    from gpt2_conformance.outcomes import Status
    from gpt2_conformance.properties import REGISTRY
    from gpt2_conformance.run import replay

    emit(event="start", property=ESSENTIALS)
    failed = essentials(backend)
    fixed, space = None, None
    if request.get("checkpoint"):  # the parent has already validated it (never given with a tokenizer)
        fixed = (request["checkpoint"], checkpoints.load(request["checkpoint"]))
    if backend.capabilities.subject == Subject.MODEL:
        space = strategies.Space.for_backend(backend.capabilities, fixed)
    # the parent has checked its location (run/plan.py, database_location)
    database = databases.open_database(request["database"]) if request.get("database") else None
    files = [expectations.load(path) for path in request.get("expectations", ())]
    expected = expectations.entries_for(files, backend.name, request["spec"], backend.capabilities.subject)
    settings = profiles.get(request["profile"])
    mine = _shard_units(request, backend, space, settings)
    for pid in request["properties"]:
        if failed:
            emit(event="result", result=blocked(REGISTRY[pid], failed[1], failed[0]).to_dict())
            continue
        if mine is not None and not mine[pid]:
            emit(event="result", result=PropertyResult(pid, Status.SKIPPED, REGISTRY[pid].core,
                                                       message=shards.ELSEWHERE).to_dict())
            continue
        emit(event="start", property=pid)
        strata = None if mine is None or mine[pid] == [None] else mine[pid]
        result = run_property(REGISTRY[pid], backend, settings=settings, space=space,
                              expected=expected, max_examples=request.get("max_examples"), seed=request.get("seed"),
                              on_example=lambda n: emit(event="example", n=n), strata=strata,
                              database=database)
        if result.failing_draws is not None and request.get("save_dir"):
            try:
                path = replay.save(request["save_dir"], spec=request["spec"], backend_name=backend.name, result=result)
                result.reproduction = replay.command(path, request["spec"], backend.capabilities.subject)
            except (replay.ReplayError, OSError) as e:
                result.message += f"\n(the failing example could not be saved: {e})"
        emit(event="result", result=result.to_dict())


def _shard_units(request, backend, space, settings):
    """{property id: the units of it this shard runs} (judge/shards.py), dealt over every property of the run;
    None where the run is not sharded."""
    from gpt2_conformance.judge import shards

    shard = request.get("shard")
    if not shard:
        return None
    return shards.owned(shards.Shard(shard["index"], shard["count"]), shard["offset"], shard["properties"], backend,
                        space, settings, request.get("max_examples"))


if __name__ == "__main__":
    main()
