"""1,000 (or N) local `true` commands with asynciojobs and asyncio subprocesses.

usage: asynciojobs_true.py N WINDOW
"""
import asyncio
import sys

from asynciojobs import Job, Scheduler


async def true():
    process = await asyncio.create_subprocess_exec("true")
    status = await process.wait()
    if status != 0:
        raise RuntimeError(f"true exited with {status}")


def main():
    n, window = int(sys.argv[1]), int(sys.argv[2])
    scheduler = Scheduler(*(Job(true()) for _ in range(n)), jobs_window=window)
    if not scheduler.run():
        sys.exit(1)


main()
