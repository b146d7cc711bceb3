"""How the shop's PTB bot reaches the Bot API: over aiohttp instead of PTB's own httpx.

httpx's connection pool, on every request, walks every connection it holds and asks each one's
socket whether it has expired (a `getpeername` and a `select` per connection), and takes
several anyio locks; with tens of updates in flight that bookkeeping was most of the shop's
CPU (docs/benchmarks.md, "Pre-checkout" and "Chat"). aiohttp keeps idle connections in a queue
per host and hands one out without looking at the others. The Stripe client moved to aiohttp
for the same reason (payments/stripe_checkout.py).

What a caller sees is what `telegram.request.HTTPXRequest` gives: the status and body of the
answer, `TimedOut` when a timeout passed (the request may or may not have reached Telegram:
an unknown outcome, never a refusal), `NetworkError` for any other failure to talk to the Bot
API. The timeouts have PTB's defaults and meanings, as far as aiohttp can tell them apart:
`read_timeout` for the answer; waiting for a free connection (`connection_pool_size` at most)
and opening one within `pool_timeout + connect_timeout` together (aiohttp times the two as one;
a request that timed out there was never sent); the whole request within the sum of all four
with `write_timeout` (`media_write_timeout` for uploads), aiohttp having no write timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

__all__ = ["AiohttpRequest"]


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one aiohttp session (created by `initialize`, closed by `shutdown`)."""

    def __init__(self, *, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None and request_data.contains_files else None
        fields = request_data.json_parameters if request_data is not None else None
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        timeout = aiohttp.ClientTimeout(total=_sum(read, write, connect, pool), connect=_sum(connect, pool),
                                        sock_connect=connect, sock_read=read)
        body: aiohttp.FormData | dict[str, str] | None = fields
        if files:
            form = aiohttp.FormData(fields or {})
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            body = form
        try:
            async with session.request(method, url, data=body, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc


def _sum(*parts: float | None) -> float | None:
    """The sum of the timeouts, or None (no bound) when any of them is None."""
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout passed to the call, else this request's default (a PTB DefaultValue, such as
    DEFAULT_NONE, means none was passed)."""
    if isinstance(value, type(BaseRequest.DEFAULT_NONE)):
        return default
    return value  # type: ignore[return-value]
