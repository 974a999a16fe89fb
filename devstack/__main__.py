"""``python -m devstack <verb>``: install, start, stop, status, run, supervise, test, bench. See
the Makefile."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

#: Verbs that run a Python module against the stack: the module each runs, and how long it may
#: take (the whole suite is well under half an hour; a hang must fail long before CI's 90 minutes,
#: although pytest-timeout already fails each hung test within minutes).
RUNNERS = {"test": ("pytest", 45 * 60.0), "bench": ("benchmarks", None)}
#: The share of requests traced in a stack that ``bench`` starts (``CHIRP_TRACING_SAMPLE_RATIO``
#: unless set): sampled, as production traces; what tracing every request costs is measured
#: on its own (``benchmarks/edge.py``).
BENCH_TRACE_SAMPLE_RATIO = "0.01"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("install", help="install whatever is missing")
    for verb in ("start", "stop", "status"):
        sub = verbs.add_parser(verb, help=f"{verb} components (all when none is named)")
        sub.add_argument("components", nargs="*")
    verbs.add_parser("run", help="start everything and stay in the foreground until Ctrl-C")
    verbs.add_parser("supervise", help="restart components that die (what `start` runs)")
    test = verbs.add_parser("test", help="start what tests need, run pytest, stop what was started")
    test.add_argument("extra", nargs=argparse.REMAINDER, help="pytest's arguments")
    backup = verbs.add_parser("backup", help="back up the running stack's data of record")
    backup.add_argument("--into", help="the folder of backups (default: backups/)")
    restore = verbs.add_parser("restore", help="load a backup into an empty stack, starting it")
    restore.add_argument("folder", help="a backup's folder (what `backup` printed)")
    bench = verbs.add_parser("bench", help="like test, for the benchmarks")
    bench.add_argument("extra", nargs=argparse.REMAINDER, help="the benchmarks' arguments")
    args = parser.parse_args(argv)

    if args.verb == "install":
        from devstack import install  # noqa: PLC0415  (stdlib only: runs before the virtualenv exists)

        install.main()
        return 0
    if args.verb in ("backup", "restore"):
        return _backup_verb(args)
    return _stack_verb(args)


def _stack_verb(args: argparse.Namespace) -> int:
    from devstack import stack  # noqa: PLC0415
    from devstack.components import by_name  # noqa: PLC0415

    whole_stack = {"run": stack.run_foreground, "supervise": stack.supervise}
    if args.verb in whole_stack:
        return whole_stack[args.verb]()
    if args.verb == "bench":
        os.environ.setdefault("CHIRP_TRACING_SAMPLE_RATIO", BENCH_TRACE_SAMPLE_RATIO)
        # Trends recomputed at production's interval, not every second as tests need them.
        from services.platform.settings import TrendSettings  # noqa: PLC0415

        default = TrendSettings.model_fields["recompute_seconds"].default
        os.environ.setdefault("CHIRP_TRENDS_RECOMPUTE_SECONDS", str(default))
    if args.verb in RUNNERS:
        extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra  # make's separator
        module, limit_seconds = RUNNERS[args.verb]
        return stack.run_with_stack([module, *extra], limit_seconds)
    components = by_name(args.components)
    if args.verb == "status":
        return 0 if stack.status(components) else 1
    if args.verb == "stop":
        if not args.components:  # the whole stack: nothing may be restarted meanwhile
            stack.stop_supervisor()
        stack.stop(components)
        return 0
    return stack.start_and_report(components)


def _backup_verb(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from devstack import backup, stack  # noqa: PLC0415

    try:
        if args.verb == "backup":
            folder = backup.back_up(Path(args.into) if args.into else backup.BACKUPS)
            manifest = backup.verified(folder)
            print(f"[devstack] backup: {folder} ({manifest['seconds']} s)")
            print(json.dumps(manifest["stores"], default=str)[:2000])
        else:
            started = time.monotonic()
            loaded = backup.restore(Path(args.folder))
            print(
                f"[devstack] restored {args.folder} in {time.monotonic() - started:.1f} s: {loaded}"
            )
    except (backup.BackupError, stack.StackError) as error:
        print(f"[devstack] FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
