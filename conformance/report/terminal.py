"""What the commands print: certify's progress and result table, replay's outcome, selftest's kill matrix."""
import sys

from gpt2_conformance.outcomes import FAILED_WITH_EXAMPLE, Status
from gpt2_conformance.report.certificate import certified
from gpt2_conformance.report.text import cell, count, num, sections, status, verdicts


def result_line(name, result):
    """One finished property, as certify prints it on stderr while it runs."""
    return (f"  {name:<20} {result.id:<26} {result.status.label:<7} "
            f"{result.examples:>4} examples  {result.seconds:6.1f} s")


class Progress:
    """One status line on a terminal: the backend, and the property each of its workers runs (certify -j) with its
    examples so far."""

    def __init__(self):
        self.width = 0
        self.running = {}  # worker: what it runs

    def show(self, name, property_id, examples, worker=0):
        self.running[worker] = property_id + (f": {count(examples, 'example', 'examples')}" if examples else "")
        text = f"  {name} / " + "; ".join(self.running[w] for w in sorted(self.running))
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def clear(self):
        self.running.clear()  # a worker shows again at its next report
        if self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            self.width = 0


def table(cert):
    """Per section (models, tokenizers), one backend: its properties as rows; several: backend x property, a cell
    showing its worst error/tolerance. Then each one's verdict, and every failure with its reproduction."""
    lines = []
    for heading, entries in sections(cert):
        lines += ([""] if lines else []) + (_rows(entries[0]) if len(entries) == 1 else _matrix(entries, heading[:-1]))
    lines += [""] + [f"{name}: {text}" for name, text in verdicts(cert)]
    for b in certified(cert):
        for p in b["properties"]:
            if status(p) in FAILED_WITH_EXAMPLE | {Status.XPASSED}:
                lines.append(f"\n{b['name']} / {p['id']}: {p['message']}"
                             + (f"\n    counterexample: {p['counterexample']}" if p["counterexample"] else "")
                             + (f"\n    {p['upstream_hint']}" if p.get("upstream_hint") else "")
                             + (f"\n    reproduce: {p['reproduction']}" if p.get("reproduction") else ""))
        blocked = [p for p in b["properties"] if status(p) == Status.BLOCKED]
        if blocked:
            lines.append(f"\n{b['name']}: {count(len(blocked), 'property', 'properties')} {blocked[0]['message']}")
    lines += [f"expectation file error: {e}" for e in cert.get("expectation_errors", [])]
    return "\n".join(lines)


def _rows(backend):
    width = max(len(p["id"]) for p in backend["properties"])
    lines = [f"{backend['name']}\n{'property':<{width}}  {'status':<10} {'dtype':<8} {'examples':>8}  "
             f"{'worst ratio':>11}  {'median ratio':>12}  {'max |error|':>11}"]
    for p in backend["properties"]:
        lines.append(f"{p['id']:<{width}}  {status(p).label:<10} {p['dtype'] or '-':<8} {p['examples']:>8}  "
                     f"{num(p['worst_ratio'], 3):>11}  {num(p['median_ratio'], 3):>12}  {num(p['max_abs_err'], 3):>11}")
    return lines


def _matrix(backends, noun):
    ids = [p["id"] for p in backends[0]["properties"]]
    width = max([len(noun)] + [len(b["name"]) for b in backends])
    widths = [max(12, len(i)) for i in ids]
    lines = [f"{noun:<{width}}  " + "  ".join(f"{i:<{w}}" for i, w in zip(ids, widths))]
    for b in backends:
        lines.append(f"{b['name']:<{width}}  " + "  ".join(f"{cell(p):<{w}}" for p, w in zip(b["properties"], widths)))
    return lines


def replayed(backend_name, meta, outcome):
    """replay's outcome: the status on this backend, then what was saved."""
    status_now, kind, message = outcome
    lines = [f"{backend_name} / {meta['property']}: {status_now.label}" + (f" ({kind})" if kind else ""),
             f"  {message}"]
    if meta.get("counterexample"):
        lines.append(f"  counterexample: {meta['counterexample']}")
    if status_now != Status.PASSED:
        lines.append(f"  saved from {meta['backend']}: {meta['status']} ({meta['kind']}): {meta['message']}")
    return "\n".join(lines)


def kill_cell(c):
    """One finished cell of selftest's kill matrix, as it prints on stderr while it runs."""
    return f"  {c['mutant']:<26} {c['property']:<20} {c['cell']:<8} {c['seconds']:6.2f} s"


# selftest's sections, one per subject: (subject, the matrix's first column, the keys of its timing and of what
# its catalog leaves out, how to read its counterexamples)
KILL_SECTIONS = (
    ("model", "mutant", "timing", "not_applicable",
     "counterexamples (shrunk; Case(...).params() and Case(...).tokens rebuild each):"),
    ("tokenizer", "tokenizer mutant", "tokenizer_timing", None,
     "counterexamples (shrunk; each names its vocabulary and the text or ids it failed on):"),
)


def kill_matrix(result):
    """selftest's kill matrix, a section per subject of the mutants run, and what it means."""
    lines = []
    for subject, noun, timing, left_out, caption in KILL_SECTIONS:
        mutants = [m for m in result["mutants"] if m.get("subject", "model") == subject]
        if mutants:
            lines += ([""] if lines else []) + _kill_section(result["cells"], mutants, noun, result[timing],
                                                              result.get(left_out, {}), caption)
    lines += [f"correct backend {b['name']}: {b['verdict']}" + ("" if b["passed"] else "  <- SHOULD BE CERTIFIED")
              for b in result["backends"]]
    lines += [f"correct tokenizer {t['name']}: {t['verdict']}" + ("" if t["passed"] else "  <- SHOULD BE CERTIFIED")
              for t in result.get("tokenizers", ())]
    lines.append(_selftest_summary(result))
    return "\n".join(lines)


def _kill_section(all_cells, mutants, noun, timing, not_applicable, caption):
    """One subject's matrix (its mutants by the properties they met), its kill times and counterexamples."""
    names = {m["name"] for m in mutants}
    cells = [c for c in all_cells if c["mutant"] in names]
    ids = list(dict.fromkeys(c["property"] for c in cells))
    width = max([len(noun)] + [len(m["name"]) for m in mutants])
    lines = [f"{noun:<{width}}  " + "  ".join(f"{i:<18}" for i in ids) + "  time to kill (first failure)"]
    lines += [_mutant_row(m, cells, ids, width) for m in mutants]
    lines.append("(* = the property meant to kill it)")
    lines += [f"{name:<{width}}  not applicable: {why}" for name, why in not_applicable.items()]
    lines += _kill_times(timing)
    lines.append("\n" + caption)
    lines += [f"  {m['name']}: {m['counterexample']}" for m in mutants if m["counterexample"]]
    return lines


def _mutant_row(m, all_cells, ids, width):
    row = {c["property"]: c for c in all_cells if c["mutant"] == m["name"]}
    cells = [f"{row[i]['cell'].upper() if row[i]['cell'] == 'survived' and row[i]['intended'] else row[i]['cell']}"
             f"{'*' if row[i]['intended'] else ''}" for i in ids]
    timing = (f"{num(m['seconds'], 3)} s ({num(m['first_failure_seconds'], 3)} s)"
              if m["seconds"] is not None and m["first_failure_seconds"] is not None else "-")
    why = ("" if m["ok"] else "  <- " + ("survives every property" if not m["killed_by"]
                                         else f"not killed by {', '.join(m['missed'])}" if m["missed"]
                                         else f"its certificate would pass: {m['verdict']}"))
    return f"{m['name']:<{width}}  " + "  ".join(f"{c:<18}" for c in cells) + f"  {timing}{why}"


def _kill_times(t):
    if t["median_time_to_kill_s"] is None:
        return []
    return [f"\ntime to kill (wall, incl. shrinking): median {num(t['median_time_to_kill_s'], 3)} s "
            f"(target <= {t['median_target_s']:g} s), slowest {num(t['slowest_time_to_kill_s'], 3)} s "
            f"(target <= {t['slowest_target_s']:g} s); CPU time: median {num(t['median_cpu_to_kill_s'], 3)} s, "
            f"slowest {num(t['slowest_cpu_to_kill_s'], 3)} s"]


def _selftest_summary(result):
    killed = sum(bool(m["killed_by"]) for m in result["mutants"])
    ok = sum(m["ok"] for m in result["mutants"])
    if not result["passed"]:
        meaning = "SELFTEST FAILED."
    elif result.get("whole"):
        meaning = "the suite catches every bug in its catalog."
    else:
        meaning = ("every mutant run was killed by the properties run (a part of the catalog: run selftest "
                   "without --mutant and --property for all).")
    return f"\n{killed} of {len(result['mutants'])} mutants killed, {ok} by every property meant to kill them: {meaning}"
