#!/usr/bin/env python3
"""Writes the side-by-side table of `scripts/bench strapi` into docs/BENCHMARKS.md.

usage: bench-strapi.py BENCHMARKS.md COMMIT NAME=RESULT_DIR...

Each RESULT_DIR is one run of the Strapi recipe's bench.sh (its results.md has one
row per scenario); NAME is strapi, cached or uncached. The medians over the runs of
each server go into the section between the two markers below, which is replaced
(or appended the first time); the rest of the file is left as it is.
"""
import datetime
import os
import re
import statistics
import sys

BEGIN = "<!-- scripts/bench strapi: begin -->"
END = "<!-- scripts/bench strapi: end -->"
COLUMNS = ["rps", "p50", "p90", "p99", "max", "non2xx", "sockerr", "bytes", "cpu", "busy",
           "rss_end", "rss_max"]
CASES = {
    "A": "A list: 20 per page, author/category/tags populated with fields, newest first",
    "B": "B detail by slug, `populate=*`",
    "C": "C category-filtered list, author populated",
}


def read(directory):
    rows = {}
    with open(os.path.join(directory, "results.md")) as results:
        for line in results:
            match = re.match(r"^\| ([ABC]) \|(.*)\|$", line.strip())
            if match:
                values = [v.strip().rstrip("%") for v in match.group(2).split("|")]
                rows[match.group(1)] = dict(zip(COLUMNS, map(float, values)))
    return rows


def main():
    path, commit, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
    by_server = {}
    for run in runs:
        name, directory = run.split("=", 1)
        by_server.setdefault(name, []).append(read(directory))

    def median(server, case, column):
        return statistics.median(run[case][column] for run in by_server[server])

    def spread(server, case):
        values = [run[case]["rps"] for run in by_server[server]]
        return f"{min(values):,.0f}–{max(values):,.0f}"

    rounds = len(by_server["strapi"])
    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu)
    lines = [
        BEGIN,
        "",
        f"`scripts/bench strapi`, {datetime.date.today().isoformat()}, commit {commit}, "
        f"{os.cpu_count()} cores ({model.group(1) if model else 'unknown CPU'}): the recipe's "
        f"own `bench.sh` (wrk -t1 -c32, 5 s warm-up + 20 s) against Strapi 5.54.0 (started "
        f"fresh each round), bianxian with its response cache and bianxian with "
        f"`CONTENT_CACHE_TTL_SECS=0` (every request runs its SQL), {rounds} interleaved "
        f"rounds, medians (req/s range over the rounds in brackets). Same 10,000 articles on "
        f"both sides (`seed --profile strapi` reproduces seed.js), same PostgreSQL 15; wrk, "
        f"the servers and PostgreSQL share the cores.",
        "",
        "| case | Strapi req/s (p99) | bianxian cached req/s (p99) | ratio "
        "| bianxian uncached req/s (p99) | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case, label in CASES.items():
        strapi = median("strapi", case, "rps")
        cells = [f"{strapi:,.1f} ({spread('strapi', case)}; p99 {median('strapi', case, 'p99'):.0f} ms)"]
        for server in ("cached", "uncached"):
            rps = median(server, case, "rps")
            cells.append(f"{rps:,.0f} ({spread(server, case)}; p99 {median(server, case, 'p99'):.1f} ms)")
            cells.append(f"{rps / strapi:.1f}×")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    errors = sum(run[case]["non2xx"] + run[case]["sockerr"]
                 for runs_ in by_server.values() for run in runs_ for case in CASES)
    lines += [
        "",
        "Server process, medians over the cases: "
        + "; ".join(
            f"{name} {statistics.median(median(name, c, 'cpu') for c in CASES):.2f} cores busy, "
            f"peak RSS {max(run[c]['rss_max'] for run in by_server[name] for c in CASES):.0f} MiB"
            for name in ("strapi", "cached", "uncached"))
        + f". Non-2xx responses and socket errors over every run: {errors:.0f}.",
        "",
        END,
    ]
    section = "\n".join(lines)
    text = open(path).read()
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Side by side with Strapi 5\n\n" + section + "\n"
    open(path, "w").write(text)
    print(section)


if __name__ == "__main__":
    main()
