"""The revoked accounts' list on Redis (``services/platform/revocations.py``), as the users
service writes it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog
from redis.exceptions import RedisError

from services.platform import revocations
from services.platform.resp import RespClient

log = structlog.get_logger()


class RedisRevocations:
    def __init__(self, redis: RespClient) -> None:
        self._redis = redis

    async def revoke(self, until: Mapping[int, datetime]) -> None:
        """A failure is logged, not raised: the store's record of every revocation is written
        here again every ``REASSERT_SECONDS``, so it delays the refusal of the tokens, and
        loses nothing."""
        try:
            await revocations.revoke(
                self._redis, {user_id: moment.timestamp() for user_id, moment in until.items()}
            )
        except RedisError:
            log.warning("could not write revocations; their record will be", exc_info=True)
