"""``python -m tests.integration.tweets.issue_ids COUNT START_AT``: leases a worker id from the
real Redis, waits until the Unix time START_AT (so several processes issue at once), issues
COUNT Snowflake ids and prints them, one a line, after a first line with the worker id."""

from __future__ import annotations

import asyncio
import sys
import time

from services.platform.ids import leased_snowflake
from services.platform.redis_clients import resp_client
from services.platform.settings import StoreSettings


async def main(count: int, start_at: float) -> None:
    resp = resp_client(StoreSettings().redis_url)
    try:
        async with leased_snowflake(resp) as generator:
            await asyncio.sleep(max(start_at - time.time(), 0))
            ids = [generator.next_id() for _ in range(count)]
            worker = generator.worker
    finally:
        await resp.aclose()
    sys.stdout.write("\n".join(map(str, [worker, *ids])) + "\n")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
