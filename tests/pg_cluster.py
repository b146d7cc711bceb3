"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, on a free port,
its unix socket in that folder, run as an unprivileged user when the tests run as root (as CI
does: PostgreSQL refuses to run as root), removed when the session ends.

`python -m tests.pg_cluster [--durable]` starts one and prints its URL until Ctrl-C (for
development, and for benchmarks/ledger.py --database: `--durable` keeps PostgreSQL's fsync
and synchronous commit on, as in production).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from ledger import pg_conn

T = TypeVar("T")

# In CI the PostgreSQL suite must run; without this variable it is skipped when the binaries
# are missing (a developer machine without PostgreSQL).
REQUIRE_ENV = "GRIDSHOP_REQUIRE_POSTGRES"
# Run the whole suite against an external server instead (its URL, a superuser's).
URL_ENV = "GRIDSHOP_TEST_POSTGRES_URL"


def find_bin_dir() -> Path | None:
    """Where `initdb` and `pg_ctl` are: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One PostgreSQL server in its own folder; `url(db)` names a database on it."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable
        self.folder = Path(tempfile.mkdtemp(prefix="gridshop-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._run_as: str | None = None
        if os.geteuid() == 0:
            self._run_as = "nobody"
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        os.chmod(self.folder, 0o755)  # the tests (root) reach the socket inside

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._run_as is not None:
            return ["runuser", "-u", self._run_as, "--", *command]
        return command

    def start(self) -> Cluster:
        subprocess.run(self._cmd("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                                 "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"),
                       check=True, capture_output=True, cwd=self.folder)
        # A test cluster: durability of the server itself is not under test (the client's
        # SIGKILL is), so skip its fsyncs; the socket lives in our folder only.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses='' -c max_connections=300"
        if not self.durable:
            options += (" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                        " -c shared_buffers=32MB")
        subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                                 str(self.folder / "server.log"), "-w", "start"),
                       check=True, capture_output=True, cwd=self.folder)
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.folder}&port={self.port}"

    def stop(self) -> None:
        subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"),
                       capture_output=True, cwd=self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


def session_server() -> Iterator[str]:
    """The body of the session fixture: yield a superuser's URL on a running server (the one
    in $GRIDSHOP_TEST_POSTGRES_URL, else a throwaway cluster), or skip saying why."""
    if os.environ.get(URL_ENV):
        yield os.environ[URL_ENV]
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = ("PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in "
                  "/usr/lib/postgresql/*/bin: apt-get install postgresql to run the "
                  "PostgreSQL store's tests")
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but {reason}")
        pytest.skip(reason)
    cluster = Cluster(bin_dir).start()
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def on_own_thread(url: str, fn: Callable[[pg_conn.PgConnection], T]) -> T:
    """Run `fn` on a new connection to `url` from a thread of its own (a test's event loop may
    be running on this one)."""

    def run() -> T:
        conn = pg_conn.connect(url)
        try:
            return fn(conn)
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(run).result()


_numbers = itertools.count(1)


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server; return its URL."""
    name = f"test_{os.getpid()}_{next(_numbers)}"
    on_own_thread(server_url, lambda conn: conn.execute(f"CREATE DATABASE {name}"))
    return database_url(server_url, name)


def database_url(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


if __name__ == "__main__":
    import time

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL binaries (initdb, pg_ctl) found")
    cluster = Cluster(bin_dir, durable="--durable" in sys.argv).start()
    print(cluster.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
