"""certify, in steps: run each backend of a Plan in its worker, judge it, and build the certificate."""
from dataclasses import dataclass

from gpt2_conformance.backends import Subject
from gpt2_conformance.judge import expectations, shards
from gpt2_conformance.judge.runner import PropertyResult
from gpt2_conformance.judge.verdict import Verdict, judge
from gpt2_conformance.outcomes import FAILED_WITH_EXAMPLE
from gpt2_conformance.report import certificate
from gpt2_conformance.report.terminal import result_line
from gpt2_conformance.run import replay
from gpt2_conformance.run.jobs import run_jobs
from gpt2_conformance.run.plan import sharded


@dataclass
class BackendRun:
    """One backend, run and judged."""

    name: str
    spec: str
    verdict: Verdict
    passed: bool  # its verdict is accepted by the plan
    capabilities: dict | None  # None: it never imported
    properties: list[PropertyResult]
    input_contract: dict | None

    def to_dict(self):
        return {"name": self.name, "spec": self.spec, "verdict": self.verdict.to_dict(), "passed": self.passed,
                "capabilities": self.capabilities, "properties": [p.to_dict() for p in self.properties],
                "input_contract": self.input_contract}


def certify(plan, log, live=None):
    """The certificate (a dict, at the JSON boundary) of every backend of plan. log(line) prints each finished
    property; live (report.terminal.Progress) shows the one running."""
    problems = []
    runs = [certify_backend(spec, plan, problems, log, live, position=i) for i, spec in enumerate(plan.specs)]
    tokenizers = [certify_backend(spec, plan, problems, log, live, Subject.TOKENIZER, position=len(runs) + i)
                  for i, spec in enumerate(plan.tokenizer_specs)]
    problems += unlisted(plan.files, runs, tokenizers)
    return certificate.build(runs, tokenizers=tokenizers, seed=plan.seed, profile=plan.profile,
                             max_examples=plan.max_examples, partial=plan.partial, accepted=vars(plan.accepted),
                             expectations=plan.files, expectation_errors=problems, command=plan.command,
                             checkpoint=plan.checkpoint, shard=plan.shard and _shard_record(plan))


def unlisted(files, runs, tokenizers):
    """The errors of expectation files that list a backend the run did not certify."""
    return [f"{f.path}: lists failures of {f.backend!r}, which was not certified in this run" for f in files
            if not any(f.for_backend(run.name, run.spec) and _lists(f, run.name, run.spec, subject)
                       for subject, certified in ((Subject.MODEL, runs), (Subject.TOKENIZER, tokenizers))
                       for run in certified)]


def _shard_record(plan):
    """The certificate's `shard`: which shard this is, and what merge needs of the whole run's plan."""
    unsharded = set(sharded(plan.shard))
    return {**plan.shard.to_dict(), "properties": list(plan.property_ids),
            "tokenizer_properties": list(plan.tokenizer_property_ids),
            "partial_of": {str(s): [r for r in why if r not in unsharded] for s, why in plan.partial_of.items()}}


def _lists(file, name, spec, subject):
    """Whether an expectation file for this backend applies to it: it lists properties of its subject (or none)."""
    return not file.entries or bool(expectations.entries_for([file], name, spec, subject))


def certify_backend(spec, plan, problems, log, live, subject=Subject.MODEL, position=0):
    """The BackendRun of one spec (a model, or a tokenizer; position: its place in the run, where a shard's deal
    of its units starts); the errors of its expectation entries are added to problems. A shard probes the
    input contract in shard 1 only."""
    def on_result(name, result):
        if live:
            live.clear()
        log(result_line(name, result))

    model = subject == Subject.MODEL
    run = run_jobs(spec, plan.property_ids if model else plan.tokenizer_property_ids, plan.jobs, profile=plan.profile,
                   max_examples=plan.max_examples, seed=plan.seed, timeout=plan.timeout, on_result=on_result,
                   on_progress=live and live.show, save_dir=plan.save_dir,
                   checkpoint=plan.checkpoint if model else None,  # a tokenizer has no weights
                   files=plan.files, contract=model and _probes(plan.shard), subject=subject,
                   shard=plan.shard and (plan.shard, position), database=plan.database)
    if live:
        live.clear()
    run.results = [r for r in run.results if r.message != shards.ELSEWHERE]
    entries = expectations.entries_for(plan.files, run.name, spec, subject)
    wrong = [f"{run.name}: {m}" for m in expectations.unmatched(entries, run.results)]
    problems += wrong
    for r in run.results:
        if r.status in FAILED_WITH_EXAMPLE and not r.reproduction:  # no saved example to replay
            r.reproduction = replay.certify_command(spec, r.id, plan.profile, plan.seed, subject)
    verdict = judge(run.results, run.capabilities, plan.partial_of.get(subject, plan.partial), wrong)
    return BackendRun(run.name, spec, verdict, verdict.accepted(plan.accepted),
                      run.capabilities and run.capabilities.to_dict(), run.results, run.contract)


def _probes(shard):
    return shard is None or shard.index == 1
