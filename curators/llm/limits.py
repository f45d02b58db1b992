"""Requests-per-minute and tokens-per-minute limits of the gateway: two token buckets."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """Token buckets for requests and tokens per minute. `acquire` waits until both allow a request."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._requests = float(rpm or 0)
        self._tokens = float(tpm or 0)
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        if self.rpm:
            self._requests = min(self.rpm, self._requests + elapsed * self.rpm / 60)
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + elapsed * self.tpm / 60)

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        tokens = min(tokens, self.tpm or tokens)  # a request larger than the bucket waits for a full one
        async with self._lock:
            while True:
                self._refill()
                need_r = 0.0 if not self.rpm else max(0.0, 1 - self._requests) * 60 / self.rpm
                need_t = 0.0 if not self.tpm else max(0.0, tokens - self._tokens) * 60 / self.tpm
                wait = max(need_r, need_t)
                if wait <= 0:
                    if self.rpm:
                        self._requests -= 1
                    if self.tpm:
                        self._tokens -= tokens
                    return
                await asyncio.sleep(wait)

    def correct(self, estimated: int, actual: int) -> None:
        """Charge the difference between the estimated and the actual tokens of a request."""
        if self.tpm:
            self._tokens -= actual - estimated
