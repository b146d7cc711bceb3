"""What the benchmarks share: the repository on the import path (ahead of an installed
gridshop), a free port, percentiles, the machine's load, and the command line's parser."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def load_line() -> str:
    """The load average, to read a run's figures by (the machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.1f} {five:.1f} {fifteen:.1f} ({os.cpu_count()} cores)"


def parser(doc: str | None, options: dict[str, tuple[type, object, str]]) -> argparse.ArgumentParser:
    """A parser with the module's docstring as help and `--name` options of (type, default, help)."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (kind, default, text) in options.items():
        ap.add_argument(f"--{name}", type=kind, default=default, help=text)
    return ap
