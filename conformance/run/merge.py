"""gpt2-conformance merge: the certificate of a run from the certificates of its shards (certify --shard I/N).

The shards must be one run: the same suite, profile, seed, examples, backends, properties, expectation
files and acceptance, each of the N indices once. Each property is judged again from its shards' records
(judge/shards.py: combined as search_strata combines its searches, then judged as run_property judges them),
and each backend's verdict from the merged results, so the verdict is an unsharded run's.

What differs from an unsharded run's certificate: `seconds` sums the shards' (their wall times, not one),
`environment` is the merging machine's, a replay file named by `reproduction` lies in the report directory
of the shard that found it, and `upstream_hint` is that shard's (it depends on the frameworks its process
loaded). A property whose worker died or hung in some shard is that shard's error.
"""
import json
import shlex
from dataclasses import replace
from pathlib import Path

from gpt2_conformance.backends import Capabilities, Subject
from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.judge import expectations, shards
from gpt2_conformance.judge.runner import PropertyResult, joined
from gpt2_conformance.judge.verdict import Acceptance, judge
from gpt2_conformance.outcomes import FAILED_WITH_EXAMPLE
from gpt2_conformance.report import certificate
from gpt2_conformance.run import replay
from gpt2_conformance.run.certify import BackendRun, unlisted
from gpt2_conformance.run.plan import UsageError, sharded

# What every shard of one run has alike (besides its backends, below).
ALIKE = ("certificate_version", "suite_version", "profile", "seed", "max_examples", "accepted", "checkpoint")
SHARD_ALIKE = ("count", "properties", "tokenizer_properties", "partial_of")
LISTS = {Subject.MODEL: ("backends", "properties"), Subject.TOKENIZER: ("tokenizers", "tokenizer_properties")}


def load(paths):
    """The shard certificates at paths, in shard order, checked to be all the shards of one run."""
    certs = [_read(Path(p)) for p in paths]
    check(certs, paths)
    return sorted(certs, key=lambda c: c["shard"]["index"])


def _read(path):
    try:
        cert = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: cannot read a certificate: {e}") from None
    if not isinstance(cert, dict) or "shard" not in cert:
        raise UsageError(f"{path}: not a shard's certificate (certify --shard I/N writes one)")
    return cert


def check(certs, paths):
    """UsageError unless the certificates are the shards 1..N of one run, each once."""
    first = certs[0]
    for cert, path in zip(certs, paths):
        for key in ALIKE:
            if cert.get(key) != first.get(key):
                raise UsageError(f"{path}: {key} {cert.get(key)!r} differs from {paths[0]}'s {first.get(key)!r}: "
                                 "not a shard of the same run")
        for key in SHARD_ALIKE:
            if cert["shard"][key] != first["shard"][key]:
                raise UsageError(f"{path}: shard {key} differs from {paths[0]}'s: not a shard of the same run")
        if _run_of(cert) != _run_of(first):
            raise UsageError(f"{path}: its backends, tokenizers or expectation files differ from {paths[0]}'s: "
                             "not a shard of the same run")
    count = first["shard"]["count"]
    indices = [c["shard"]["index"] for c in certs]
    twice = sorted({i for i in indices if indices.count(i) > 1})
    missing = sorted(set(range(1, count + 1)) - set(indices))
    if twice:
        raise UsageError(f"shard {', '.join(f'{i}/{count}' for i in twice)} given more than once")
    if missing:
        raise UsageError(f"shard {', '.join(f'{i}/{count}' for i in missing)} missing: merge needs all {count}")


def _run_of(cert):
    return ([b["spec"] for b in cert["backends"]], [t["spec"] for t in cert.get("tokenizers", ())],
            sorted(e["sha256"] for e in cert["expectations"]))


def merge(certs):
    """The certificate (a dict) of the run whose shards certs are (load's), judged as one run."""
    first = certs[0]
    files = [_expectation_file(record) for record in first["expectations"]]
    acceptance = Acceptance(**first["accepted"])
    problems = []
    runs = {subject: [_merged_backend(certs, i, subject, files, acceptance, problems)
                      for i in range(len(first[LISTS[subject][0]]))] for subject in Subject}
    problems += unlisted(files, runs[Subject.MODEL], runs[Subject.TOKENIZER])
    shard = shards.Shard(first["shard"]["index"], first["shard"]["count"])
    return certificate.build(runs[Subject.MODEL], tokenizers=runs[Subject.TOKENIZER], seed=first["seed"],
                             profile=first["profile"], max_examples=first["max_examples"],
                             partial=[r for r in first["partial"] if r not in sharded(shard)],
                             accepted=first["accepted"], expectations=files, expectation_errors=problems,
                             command=unsharded_command(first["command"]), checkpoint=first["checkpoint"])


def _merged_backend(certs, position, subject, files, acceptance, problems):
    """The BackendRun of one backend (or tokenizer) from its entries in every shard."""
    key, properties = LISTS[subject]
    entries = [c[key][position] for c in certs]
    name, spec = entries[0]["name"], entries[0]["spec"]
    declared = next((e["capabilities"] for e in entries if e["capabilities"] is not None), None)
    kind = TokenizerCapabilities if subject == Subject.TOKENIZER else Capabilities
    capabilities = declared and kind.from_dict(declared)
    expected = expectations.entries_for(files, name, spec, subject)
    try:
        results = [joined(pid, [PropertyResult.from_dict(p) for e in entries for p in e["properties"] if p["id"] == pid],
                          expected, name) for pid in certs[0]["shard"][properties]]
    except ValueError as e:
        raise UsageError(str(e)) from None
    wrong = [f"{name}: {m}" for m in expectations.unmatched(expected, results)]
    problems += wrong
    for r in results:
        if r.status in FAILED_WITH_EXAMPLE and not r.reproduction:
            r.reproduction = replay.certify_command(spec, r.id, certs[0]["profile"], certs[0]["seed"], subject)
    verdict = judge(results, capabilities, certs[0]["shard"]["partial_of"][str(subject)], wrong)
    contract = next((e["input_contract"] for e in entries if e["input_contract"] is not None), None)
    return BackendRun(name, spec, verdict, verdict.accepted(acceptance), declared, results, contract)


def _expectation_file(record):
    """The expectation file a shard applied, loaded again (by its path, else the suite's shipped file of the same
    name and content), so that its results are judged by the same entries."""
    path = Path(record["path"])
    candidates = [path, expectations.SHIPPED / path.name, expectations.SHIPPED / "tokenizers" / path.name,
                  expectations.UPSTREAM / path.name]
    for candidate in candidates:
        if candidate.is_file():
            try:
                file = expectations.load(candidate)
            except expectations.ExpectationError:
                continue
            if file.sha256 == record["sha256"]:
                return replace(file, path=record["path"])
    raise UsageError(f"{path}: the shards applied this expectation file (sha256 {record['sha256'][:12]}...); merge "
                     "needs it, unchanged, at that path to judge their results")


def unsharded_command(command):
    """The shards' certify command without --shard: the command of the run they make up."""
    if not command:
        return command
    words, kept = shlex.split(command), []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--shard":
            skip = True
        elif not word.startswith("--shard="):
            kept.append(word)
    return shlex.join(kept)
