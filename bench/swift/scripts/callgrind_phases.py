#!/usr/bin/env python3
"""Splits callgrind's self instruction counts (Ir) of `bolt-bench profile` runs into request phases.

Usage: callgrind_phases.py REQUESTS NAME=callgrind.out [NAME=callgrind.out ...]
Prints a Markdown table: Ir per request in each phase, per profile. Functions are assigned to a phase by the
first pattern below that matches their demangled name (self cost only, so nothing is counted twice).
"""
import re
import subprocess
import sys

PHASES = [
    ("exclusivity checks (swift_beginAccess/endAccess)",
     r"swift_beginAccess|swift_endAccess|AccessSet|SwiftTLSContext|__tls_get_addr"),
    ("reference counting (retain/release)", r"swift_retain|swift_release|swift_bridgeObject|swift_unknownObject|swift_isUniquelyReferenced"),
    ("JSON encoding", r"JSON|Encod|encode|Keyed|SingleValue"),
    ("middleware (Logger, RequestID, Recover, chain)",
     r"Logger|LogPipeline|RequestID|Recover|SyncChain|Shard|Mutex|ContinuousClock|clock_gettime|__vdso|generateRequestID|requestID|setRequestID|random|Random|getrandom|arc4random|withLock|lock|unlock|Atomic"),
    ("router lookup + parameters", r"Router\.lookup|PathParameters|Router\b"),
    ("handler (closure, params to String, text)",
     r"BoltBenchApp|RawShockwave\.makeServer|Context\.text|Context\.param|Context\.cachedParam|Array|ClosedRange|swift_array|Interpolation|_allASCII|_SmallString|percentDecoded|String|_StringGuts|_StringObject|Substring|UTF8|Unicode|swift_allocObject|malloc|free|_swift_|Character"),
    ("context (pool, bind, Responder, error handler)", r"Responder|Context|ContextPool|AppSettings|defaultErrorHandler"),
    ("dispatch glue (trampoline, dispatcher, loop executor)",
     r"requestTrampoline|Dispatcher|dispatch$|LoopExecutor|registerOnCurrentThread|pthread_[gs]etspecific|InProcessConnection|InProcessServer|TaskExecutor|swift_task"),
    ("parse (request head)", r"sw_parse_request|parse_|scan_|Request\.init|sw__load8|RequestHeaders"),
    ("response writing + serialize", r"ResponseWriter|sw_resp_|end_head|out_reserve|sw__framing|memcpy|memmove|sw__date|status_line|content_type|sw_write"),
    ("connection, in-process transport (C), other", r"."),
]


def self_costs(path):
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True).stdout
    text = subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True, text=True).stdout
    costs = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        costs.append((int(m.group(1).replace(",", "")), m.group(2)))
    return costs


def main():
    requests = int(sys.argv[1])
    profiles = [arg.split("=", 1) for arg in sys.argv[2:]]
    table = {}
    totals = {}
    for name, path in profiles:
        sums = {phase: 0 for phase, _ in PHASES}
        total = 0
        for ir, function in self_costs(path):
            fn = function.split(" [")[0].replace("???:", "")
            total += ir
            for phase, pattern in PHASES:
                if re.search(pattern, fn):
                    sums[phase] += ir
                    break
        table[name] = sums
        totals[name] = total
    names = [n for n, _ in profiles]
    print("| phase | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for phase, _ in PHASES:
        print(f"| {phase} | " + " | ".join(f"{table[n][phase] / requests:,.0f}" for n in names) + " |")
    print("| **total Ir per request** | " + " | ".join(f"**{totals[n] / requests:,.0f}**" for n in names) + " |")


if __name__ == "__main__":
    main()
