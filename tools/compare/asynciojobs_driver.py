"""asynciojobs driver for tools/compare.

usage: asynciojobs_driver.py SHAPE_FILE WINDOW

SHAPE_FILE holds little-endian u32s: n, edges, start[0..=n], reqs (job i requires
reqs[start[i]:start[i+1]], all earlier jobs). Builds one Job(noop()) per job with its
requirements, runs Scheduler(*jobs, jobs_window=WINDOW, critical=False), and prints
"build_ns run_ns rss_bytes" (rss_bytes: peak RSS growth over build and run).
"""
import array
import os
import resource
import sys
import time

from asynciojobs import Job, Scheduler


async def noop():
    pass


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    path, window = sys.argv[1], int(sys.argv[2])
    words = array.array("I")
    with open(path, "rb") as f:
        words.frombytes(f.read())
    if sys.byteorder != "little":
        words.byteswap()
    n, edges = words[0], words[1]
    start = words[2 : n + 3]
    reqs = words[n + 3 : n + 3 + edges]
    before = rss_bytes()
    t0 = time.perf_counter_ns()
    jobs = []
    for i in range(n):
        job = Job(noop())
        required = [jobs[r] for r in reqs[start[i] : start[i + 1]]]
        if required:
            job.requires(required)
        jobs.append(job)
    scheduler = Scheduler(*jobs, jobs_window=window or None, critical=False)
    t1 = time.perf_counter_ns()
    ok = scheduler.run()
    t2 = time.perf_counter_ns()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if not ok:
        print("run failed", file=sys.stderr)
        sys.exit(1)
    print(t1 - t0, t2 - t1, max(peak - before, 0))


if __name__ == "__main__":
    main()
