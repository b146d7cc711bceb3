"""`GET /healthz`: 200 when the database answers a query, 503 otherwise."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from ledger import Ledger

log = logging.getLogger(__name__)


@dataclass
class Health:
    ledger: Ledger
    timeout_s: float = 2.0

    async def handle(self, request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(
                self.ledger.read(lambda conn: conn.execute("SELECT 1").fetchone()), self.timeout_s
            )
        except Exception as exc:  # any failure means "not healthy"; say so, don't crash
            log.warning("health check failed: %s", exc)
            return web.json_response({"ok": False, "db": str(exc)[:200]}, status=503)
        return web.json_response({"ok": True})
