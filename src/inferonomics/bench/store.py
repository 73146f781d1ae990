"""Where runs live: one SQLite database (stdlib ``sqlite3``, WAL mode) in the user's data directory.

Each request's record is inserted and committed the moment it completes, so a run that is interrupted
(Ctrl-C, the server or the client killed) keeps everything it measured.  A run is ``running`` while it
goes, then ``complete`` or ``incomplete`` (with the reason); a run whose process died without closing it
reads as ``incomplete``.  With ``synchronous=NORMAL`` a committed record survives the process being
killed (it is in the write-ahead log); only a power loss can drop the last commits.

Data directory: ``$INFERONOMICS_DATA_DIR``, else ``$XDG_DATA_HOME/inferonomics`` or
``~/.local/share/inferonomics`` (Linux), ``~/Library/Application Support/inferonomics`` (macOS),
``%LOCALAPPDATA%\\inferonomics`` (Windows).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import sqlite3
import sys
import time
from array import array
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Self

from inferonomics.bench.records import RequestRecord
from inferonomics.errors import InputError, UnknownNameError

ENV_DATA_DIR = "INFERONOMICS_DATA_DIR"
DB_NAME = "bench.sqlite"
SCHEMA_VERSION = 1

_REC_FIELDS = [f.name for f in fields(RequestRecord)]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    sweep_id TEXT,
    label TEXT,
    pid INTEGER,
    host TEXT,
    config TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    run_id TEXT NOT NULL REFERENCES runs(id),
    {", ".join(f"{n} {'BLOB' if n == 'itl_s' else ''}".strip() for n in _REC_FIELDS)},
    PRIMARY KEY (run_id, phase, idx)
);
CREATE INDEX IF NOT EXISTS runs_sweep ON runs(sweep_id);
"""


def data_dir() -> Path:
    """The user data directory (not created)."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "inferonomics"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "inferonomics"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "inferonomics"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@dataclass
class Run:
    """A stored run: its configuration, status, records and (cached) summary."""

    id: str
    created_at: str
    status: str
    config: dict
    ended_at: str | None = None
    reason: str | None = None
    sweep_id: str | None = None
    label: str | None = None
    summary: dict | None = None
    records: list[RequestRecord] = field(default_factory=list)

    def summarize(self, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None) -> dict:
        from inferonomics.bench.metrics import summarize

        slo_ttft_s = self.config.get("slo_ttft_s") if slo_ttft_s is None else slo_ttft_s
        slo_tpot_s = self.config.get("slo_tpot_s") if slo_tpot_s is None else slo_tpot_s
        return summarize(self.records, slo_ttft_s, slo_tpot_s)

    def frame(self):
        """The records as a pandas DataFrame, one row per request (``itl_s`` as ``n_itl``, the number of gaps)."""
        import pandas as pd

        rows = []
        for r in self.records:
            d = r.to_dict()
            d["n_itl"] = len(d.pop("itl_s"))
            rows.append(d)
        return pd.DataFrame(rows)

    def header(self) -> dict:
        return {
            "id": self.id, "created_at": self.created_at, "ended_at": self.ended_at, "status": self.status,
            "reason": self.reason, "sweep_id": self.sweep_id, "label": self.label,
        }


_OUR_TABLES = {"meta", "runs", "requests"}


def _check_existing(path: Path) -> None:
    """Refuse, before anything is written, a file that is not this tool's run database: not SQLite, a
    database of another program (other tables), or a newer schema.  Read-only: the file is opened with
    ``mode=ro`` and never switched to WAL or given tables."""
    if not path.exists():
        return
    what = "run database"
    if path.is_dir():
        raise InputError(what, str(path), "is a directory, not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(what, str(path), f"cannot be read ({exc.strerror or exc})") from None
    if not head:
        return  # an empty file: SQLite makes it a new database
    if head != b"SQLite format 3\x00":
        raise InputError(what, str(path), "is not an SQLite database (another program's file?); nothing was "
                         "written to it", f"Point {ENV_DATA_DIR} (or --data-dir) at a directory of its own.")
    try:
        ro = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = None
            if "meta" in tables:
                row = ro.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = row[0] if row else None
        finally:
            ro.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(what, str(path), f"cannot be read as SQLite ({exc}); nothing was written to it") from None
    foreign = sorted(tables - _OUR_TABLES)
    if foreign or (tables and "runs" not in tables):
        raise InputError(what, str(path), f"belongs to another program (tables: {', '.join(sorted(tables))}); "
                         "nothing was written to it", f"Point {ENV_DATA_DIR} (or --data-dir) at a directory "
                         "of its own.")
    if version is not None and version != str(SCHEMA_VERSION):
        raise InputError(what, str(path), f"has schema version {version!r}; this version of inferonomics reads "
                         f"version {SCHEMA_VERSION}; nothing was written to it")


class Store:
    """The run database.  Writes commit immediately (autocommit); readers never block the writer (WAL)."""

    def __init__(self, path: str | os.PathLike | None = None):
        """The database at ``path`` (default: ``bench.sqlite`` in :func:`data_dir`).  An existing file is
        checked read-only now; the directory and the database are created on first use, so a command
        refused before it stores anything leaves nothing behind."""
        self._dir = data_dir() if path is None else None
        self.path = Path(path) if path is not None else self._dir / DB_NAME
        anc = next((a for a in self.path.absolute().parents if a.exists()), None)
        if anc is not None and not anc.is_dir():
            raise InputError(ENV_DATA_DIR if self._dir is not None else "run database", str(self.path.parent),
                             f"cannot hold the run database: {str(anc)!r} is a file, not a directory")
        _check_existing(self.path)
        self._db: sqlite3.Connection | None = None
        self._insert = (
            f"INSERT OR REPLACE INTO requests (run_id, {', '.join(_REC_FIELDS)}) "
            f"VALUES ({', '.join('?' * (len(_REC_FIELDS) + 1))})"
        )

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        if self._dir is not None:
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(ENV_DATA_DIR, str(self._dir), f"cannot create the data directory ({exc})",
                                 f"Set {ENV_DATA_DIR} to a writable directory.") from None
        _check_existing(self.path)
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, timeout=10.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise InputError("run database", str(self.path), f"cannot be opened as SQLite ({exc})") from None
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------------
    def create_run(self, config: dict, run_id: str | None = None, sweep_id: str | None = None,
                   label: str | None = None) -> str:
        rid = run_id or new_run_id()
        self.db.execute(
            "INSERT INTO runs (id, created_at, status, sweep_id, label, pid, host, config) "
            "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
            (rid, _now(), sweep_id, label, os.getpid(), socket.gethostname(), json.dumps(config)),
        )
        return rid

    def add(self, run_id: str, rec: RequestRecord) -> None:
        vals = []
        for n in _REC_FIELDS:
            v = getattr(rec, n)
            if n == "itl_s":
                v = (v if isinstance(v, array) and v.typecode == "f" else array("f", v)).tobytes()
            elif isinstance(v, bool):
                v = int(v)
            vals.append(v)
        self.db.execute(self._insert, (run_id, *vals))

    def update_output_tokens(self, run_id: str, recs: list[RequestRecord]) -> None:
        with self.db:
            self.db.executemany(
                "UPDATE requests SET output_tokens=?, output_tokens_source=?, tpot_s=? "
                "WHERE run_id=? AND phase=? AND idx=?",
                [(r.output_tokens, r.output_tokens_source, r.tpot_s, run_id, r.phase, r.idx) for r in recs],
            )

    def finish_run(self, run_id: str, status: str, reason: str | None = None, summary: dict | None = None) -> None:
        self.db.execute(
            "UPDATE runs SET status=?, reason=?, ended_at=?, summary=? WHERE id=?",
            (status, reason, _now(), json.dumps(summary) if summary is not None else None, run_id),
        )

    def delete_run(self, run_id: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM requests WHERE run_id=?", (run_id,))
            self.db.execute("DELETE FROM runs WHERE id=?", (run_id,))

    # --- reading ------------------------------------------------------------------------------------
    def _row_to_run(self, row) -> Run:
        rid, created, ended, status, reason, sweep, label, pid, host, config, summary = row
        if status == "running" and host == socket.gethostname() and not _pid_alive(pid):
            status, reason = "incomplete", reason or "the process measuring it ended without closing the run"
        return Run(
            id=rid, created_at=created, ended_at=ended, status=status, reason=reason, sweep_id=sweep,
            label=label, config=json.loads(config), summary=json.loads(summary) if summary else None,
        )

    _RUN_COLS = "id, created_at, ended_at, status, reason, sweep_id, label, pid, host, config, summary"

    def _absent(self) -> bool:
        """No database yet: reading commands answer "no runs" without creating one."""
        return self._db is None and not self.path.exists()

    def list_runs(self) -> list[Run]:
        if self._absent():
            return []
        rows = self.db.execute(f"SELECT {self._RUN_COLS} FROM runs ORDER BY created_at, rowid").fetchall()
        return [self._row_to_run(r) for r in rows]

    def resolve(self, ref: str) -> list[str]:
        """Run ids for a reference: a run id, a unique prefix of one, a sweep id, or ``latest``."""
        if self._absent():
            raise InputError("run", ref, f"there are no stored runs (no database at {self.path} yet)")
        if ref in ("latest", "last"):
            row = self.db.execute("SELECT id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
            if row is None:
                raise InputError("run", ref, f"there are no stored runs in {self.path}")
            return [row[0]]
        ids = [r[0] for r in self.db.execute("SELECT id FROM runs ORDER BY created_at, rowid")]
        if ref in ids:
            return [ref]
        sweep = [r[0] for r in self.db.execute("SELECT id FROM runs WHERE sweep_id=? ORDER BY created_at, rowid", (ref,))]
        if sweep:
            return sweep
        pref = [i for i in ids if i.startswith(ref)]
        if len(pref) == 1:
            return pref
        if len(pref) > 1:
            raise InputError("run", ref, f"matches {len(pref)} runs ({', '.join(pref[:5])}); give more of the id")
        sweeps = sorted({r[0] for r in self.db.execute("SELECT sweep_id FROM runs WHERE sweep_id IS NOT NULL")})
        raise UnknownNameError("run", ref, ids + sweeps + ["latest"])

    def load(self, ref: str, with_records: bool = True) -> Run:
        ids = self.resolve(ref)
        if len(ids) > 1:
            raise InputError("run", ref, f"is a sweep of {len(ids)} runs; name one of them: {', '.join(ids)}")
        row = self.db.execute(f"SELECT {self._RUN_COLS} FROM runs WHERE id=?", (ids[0],)).fetchone()
        run = self._row_to_run(row)
        if with_records:
            run.records = self.records(run.id)
        return run

    def records(self, run_id: str) -> list[RequestRecord]:
        cur = self.db.execute(
            f"SELECT {', '.join(_REC_FIELDS)} FROM requests WHERE run_id=? ORDER BY phase DESC, idx", (run_id,)
        )
        out = []
        for row in cur:
            d = dict(zip(_REC_FIELDS, row, strict=True))
            d["ok"] = bool(d["ok"])
            itl = array("f")
            itl.frombytes(d["itl_s"] or b"")
            d["itl_s"] = itl
            out.append(RequestRecord(**d))
        return out
