"""`gridshop sandbox` as a person starts it: one command prints one URL that serves the chat
with the shop already answering, and Ctrl-C stops everything and removes its temporary state."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


async def test_one_command_one_url_and_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    for name in ("BOT_TOKEN", "STRIPE_SECRET_KEY", "GRIDSHOP_CONFIG"):
        env.pop(name, None)  # the sandbox needs none of them
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sandbox", "--port", "0", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        urls = re.findall(r"https?://\S+", line)
        assert len(urls) == 1, line
        [state_dir] = [p for p in tmp_path.iterdir() if p.name.startswith("gridshop-sandbox-")]
        async with aiohttp.ClientSession() as http:
            async with http.get(urls[0]) as resp:
                assert resp.status == 200 and "gridshop sandbox" in await resp.text()
            async with http.get(urls[0] + "api/state") as resp:
                state = await resp.json()
        assert [u["first_name"] for u in state["users"]] == ["Ada", "Grace"]
        assert (state_dir / "config.toml").exists()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert not state_dir.exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
