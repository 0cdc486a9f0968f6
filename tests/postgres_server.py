"""A throwaway PostgreSQL server for the tests: a new cluster in a temporary folder, on a free
local port, trusted local logins, stopped and deleted afterwards. It needs the server binaries
(`initdb`, `pg_ctl`: Debian's `postgresql` package); as root it runs them as the `postgres` user,
since PostgreSQL refuses to run as root."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: the role the tests log in as
USER = "cuped"


def server_bin_dir() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: on the PATH, else Debian's newest version."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(versions[0]).parent if versions else None


def unavailable() -> str | None:
    """Why no server can be started here, or None when one can."""
    if server_bin_dir() is None:
        return "PostgreSQL server binaries not found (Debian: apt install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no `postgres` user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and no `runuser` to run the server as `postgres`"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_postgres() -> Iterator[dict[str, str]]:
    """A running server; yields the `CUPED_PG_*` variables of the repository's `postgres` target."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    bin_dir = server_bin_dir()
    assert bin_dir is not None
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="cuped-pg-"))
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data, port = folder / "data", _free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        initdb = ["-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync"]
        subprocess.run([*prefix, str(bin_dir / "initdb"), *initdb, "--no-locale"], **run)
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        start = ["-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"]
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), *start], **run)
        try:
            yield {
                "CUPED_PG_HOST": "127.0.0.1",
                "CUPED_PG_PORT": str(port),
                "CUPED_PG_USER": USER,
                "CUPED_PG_DBNAME": "postgres",
            }
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                check=False,
                capture_output=True,
                timeout=120,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
