"""The hostile-input corpus: every command and every file type, fed bad input on purpose.

The corpus is data (``tests/data/hostile/*.yaml``) plus one generated part (every numeric option of every
command, from the CLI itself and the range table of :mod:`inferonomics.limits`).  Each case runs the CLI
in-process in its own directory (also the working directory) and must:

* exit with code 0 (accepted) or 2 (refused), or the code the case names;
* never print a traceback;
* finish in under 10 s (a hang fails the case instead of the suite);
* leave every file in its directory unchanged (and create none) when refused;
* name the field (or the file) and the value in the refusal.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from inferonomics.cli import main

DATA = Path(__file__).parent / "data" / "hostile"
DOCS = yaml.safe_load((DATA / "documents.yaml").read_text(encoding="utf-8"))
CLI_CASES = yaml.safe_load((DATA / "cli_cases.yaml").read_text(encoding="utf-8"))["cases"]
CASE_LIMIT_S = 10.0


class Hung(BaseException):
    """A case that ran past CASE_LIMIT_S (BaseException: no ``except Exception`` in the code swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise Hung(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- file contents -----------------------------------------------------------------------------------
def generate(spec: dict) -> bytes:
    g = spec["gen"]
    if g == "random_bytes":
        return random.Random(spec["seed"]).randbytes(spec["n"])
    if g == "oversized":
        line = b"# padding padding padding padding padding padding padding padding padding padding\n"
        return line * (int(spec["mb"] * 1024 * 1024) // len(line) + 1)
    if g == "deep_flow":
        n = spec["n"]
        return b"[" * n + b"]" * n
    if g == "deep_block":
        return "".join("  " * i + "- \n" for i in range(spec["n"])).encode()
    if g == "deep_map":
        return "".join("  " * i + f"k{i}:\n" for i in range(spec["n"])).encode() + b"  " * spec["n"] + b"x: 1\n"
    if g in ("alias_bomb", "alias_bomb_map"):
        w, lines = spec["width"], ['a0: &a0 ["lol"]']
        for k in range(1, spec["levels"]):
            refs = ", ".join(f"*a{k - 1}" for _ in range(w))
            lines.append(f"a{k}: &a{k} [{refs}]" if g == "alias_bomb" else
                         f"a{k}: &a{k} {{{', '.join(f'k{j}: *a{k - 1}' for j in range(w))}}}")
        return ("\n".join(lines) + "\n").encode()
    if g == "huge_int":
        return b"1" + b"0" * spec["digits"] + b": 1\n"
    raise ValueError(g)


def write_file(path: Path, content) -> None:
    """Create ``path`` from a corpus content spec (text, {hex}, {gen}, {sqlite_tables}, {kind})."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    elif "hex" in content:
        path.write_bytes(bytes.fromhex(content["hex"]))
    elif "text" in content:
        path.write_bytes(content["text"].encode("utf-8"))
    elif "gen" in content:
        path.write_bytes(generate(content))
    elif "sqlite_tables" in content:
        db = sqlite3.connect(path)
        for t in content["sqlite_tables"]:
            db.execute(f"CREATE TABLE {t} (key TEXT, value TEXT)")
        if "schema_version" in content:
            db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (content["schema_version"],))
        db.commit()
        db.close()
    elif content.get("kind") == "directory":
        path.mkdir()
        (path / "inside.yaml").write_text("a: 1\n")
    elif content.get("kind") == "missing":
        pass
    elif content.get("kind") == "fifo":
        os.mkfifo(path)
    elif content.get("kind") == "dangling_symlink":
        path.symlink_to(path.parent / "no-such-target")
    else:
        raise ValueError(content)


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink() or not (p.is_file() or p.is_dir()):
                out[rel] = ("special",)
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                st = p.stat()
                out[rel] = (st.st_size, st.st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
    return out


# --- running one case --------------------------------------------------------------------------------
def run_case(tmp: Path, argv: list[str], env: dict | None, monkeypatch, capsys):
    fill = {"tmp": str(tmp)}
    argv = [a.format(**fill) for a in argv]
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, str(v).format(**fill))
    monkeypatch.chdir(tmp)
    before = snapshot(tmp)
    t0 = time.monotonic()
    try:
        with time_limit(CASE_LIMIT_S):
            rc = main(argv)
    except Hung as exc:
        pytest.fail(f"hung: {' '.join(argv)}: {exc}")
    except SystemExit as exc:  # pragma: no cover - main returns codes; a SystemExit is a contract break
        rc = exc.code
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    return rc, out, err, elapsed, before, snapshot(tmp)


def check_common(rc, out, err, elapsed, before, after, allowed_rc=(0, 2)):
    text = out + err
    assert "Traceback" not in text, text[-3000:]
    assert rc in allowed_rc, f"exit code {rc}; output: {text[-2000:]}"
    assert elapsed < CASE_LIMIT_S
    if rc != 0:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"refused (exit {rc}) but changed files: {changed}"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    # --catalog-dir / --data-dir set these in os.environ; put back what was there (monkeypatch.delenv of an
    # absent variable records nothing to undo)
    saved = {k: os.environ.get(k) for k in ("INFERONOMICS_CATALOG_DIR", "INFERONOMICS_DATA_DIR")}
    monkeypatch.setenv("INFERONOMICS_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.delenv("INFERONOMICS_MAX_INPUT_MB", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# --- part 1: the explicit command-line cases ---------------------------------------------------------
@pytest.mark.parametrize("case", CLI_CASES, ids=[c["id"] for c in CLI_CASES])
def test_cli_case(case, tmp_path, monkeypatch, capsys):
    for rel, content in (case.get("files") or {}).items():
        write_file(tmp_path / rel, content)
    want = case.get("rc", 2)
    allowed = tuple(want) if isinstance(want, list) else (want,)
    rc, out, err, elapsed, before, after = run_case(tmp_path, case["argv"], case.get("env"), monkeypatch, capsys)
    check_common(rc, out, err, elapsed, before, after, allowed)
    if rc == 2:
        for needle in case.get("needles") or []:
            assert needle in err, f"message does not name {needle!r}: {err}"
        for bad in case.get("absent") or []:
            assert bad not in err, f"message shows {bad!r}: {err}"


# --- part 2: every file type x (whole-file faults + corrupted fields) --------------------------------
def _set_path(doc, path: str, value):
    """Set ``a.b[2].c`` in a parsed document."""
    import re

    parts = [p for p in re.split(r"\.|(\[\d+\])", path) if p]
    obj = doc
    for i, p in enumerate(parts):
        key = int(p[1:-1]) if p.startswith("[") else p
        if i == len(parts) - 1:
            obj[key] = value
        else:
            obj = obj[key]


def _needle(path: str) -> str:
    import re

    names = [p for p in re.split(r"\.|\[\d+\]", path) if p and p not in ("value", "p10", "p90")]
    return names[-1]


SENTINEL = "__HOSTILE_VALUE__"


def _mutated(ft: dict, path: str, raw: str, shape: str) -> str:
    if ft.get("json"):
        import json

        doc = json.loads(ft["base"])
        _set_path(doc, path, SENTINEL)
        return json.dumps(doc).replace(f'"{SENTINEL}"', raw) + ("\n" if ft.get("jsonl") else "")
    doc = yaml.safe_load(ft["base"])
    if shape == "sourced":
        value = {"value": SENTINEL, "assumption": "hostile-input test"}
    elif shape == "dist":
        value = {"dist": "lognormal", "p10": SENTINEL, "p90": 0.9, "assumption": "hostile-input test"}
    else:
        value = SENTINEL
    _set_path(doc, path, value)
    return yaml.safe_dump(doc, sort_keys=False, width=10_000).replace(SENTINEL, raw)


def _doc_cases():
    cases = []
    for tname, ft in DOCS["file_types"].items():
        kind = "json" if ft.get("json") else "yaml"
        for f in DOCS["faults"]:
            if (f.get("yaml") and kind != "yaml") or (f.get("json") and kind != "json"):
                continue
            cases.append(pytest.param(tname, "fault", f, None, None, id=f"{tname}-fault-{f['id']}"))
        vals = DOCS["values"][kind]
        fields = [(p, "plain") for p in ft["fields"]]
        fields += [(p, "sourced") for p in ft.get("sourced", [])] + [(p, "dist") for p in ft.get("dist", [])]
        for path, shape in fields:
            for raw in vals["must_refuse"]:
                cases.append(pytest.param(tname, "field", path, raw, shape, True,
                                          id=f"{tname}-{shape}-{path}={raw}"))
            for raw in vals["may_pass"]:
                cases.append(pytest.param(tname, "field", path, raw, shape, False,
                                          id=f"{tname}-{shape}-{path}={raw}"))
    return cases


DOC_CASES = _doc_cases()


def _fault_case_params():
    return [c for c in DOC_CASES if c.values[1] == "fault"]


def _field_case_params():
    return [c for c in DOC_CASES if c.values[1] == "field"]


def _run_doc(tname, tmp_path, monkeypatch, capsys, content, env=None):
    ft = DOCS["file_types"][tname]
    f = tmp_path / ft["file"]
    f.parent.mkdir(parents=True, exist_ok=True)
    write_file(f, content)
    fill = {"tmp": str(tmp_path), "file": str(f), "dir": str(f.parent)}
    argv = [a.format(**fill) for a in ft["argv"]]
    return f, run_case(tmp_path, argv, env, monkeypatch, capsys)


def _accepted(ft, rc, err) -> bool:
    return rc == ft["ok_rc"] and (ft.get("ok_needle") is None or rc == 0 or ft["ok_needle"] in err)


@pytest.mark.parametrize("tname,what,fault,_a,_b", _fault_case_params())
def test_file_fault(tname, what, fault, _a, _b, tmp_path, monkeypatch, capsys):
    ft = DOCS["file_types"][tname]
    content = {k: v for k, v in fault.items() if k not in ("id", "needle", "env", "yaml", "json")}
    if "text" in fault:
        content = fault["text"]
    f, (rc, out, err, elapsed, before, after) = _run_doc(tname, tmp_path, monkeypatch, capsys, content, fault.get("env"))
    check_common(rc, out, err, elapsed, before, after)
    if _accepted(ft, rc, err):
        # only an absent or empty file may be accepted (a catalog directory without it; an empty catalog file)
        assert fault["id"] in ("missing", "empty", "whitespace-only", "dangling-symlink") and tname == "catalog", (
            f"{fault['id']} accepted: {out[-500:]}")
        return
    assert rc == 2
    assert f.name in err, f"the message does not name the file {f.name}: {err}"
    if fault.get("needle"):
        assert fault["needle"] in err, f"the message does not say {fault['needle']!r}: {err}"


@pytest.mark.parametrize("tname,what,path,raw,shape,must_refuse", _field_case_params())
def test_corrupted_field(tname, what, path, raw, shape, must_refuse, tmp_path, monkeypatch, capsys):
    ft = DOCS["file_types"][tname]
    text = _mutated(ft, path, raw, shape)
    _f, (rc, out, err, elapsed, before, after) = _run_doc(tname, tmp_path, monkeypatch, capsys, text)
    check_common(rc, out, err, elapsed, before, after)
    if _accepted(ft, rc, err):
        assert not must_refuse, f"{path}: {raw} was accepted: {out[-800:]}"
        return
    assert rc == 2, err
    name = _needle(path)
    if ft.get("json") and raw in ("NaN", "Infinity", "-Infinity"):
        name = raw.lstrip("-")  # refused by the JSON parser, before any field is known
    assert name in err, f"the refusal does not name {name!r}: {err}"


# --- part 3: every numeric option of every command ---------------------------------------------------
def _numeric_options():
    import typer

    from inferonomics.cli import app
    from inferonomics.limits import flag_limit

    out = []

    def walk(cmd, path):
        for p in cmd.params:
            ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
            if ann in (int, float):
                opt = max(p.opts, key=len)
                out.append((" ".join(path), opt, ann, flag_limit(" ".join(path), opt)))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, path + [name])

    walk(typer.main.get_command(app), [])
    return out


NUMERIC_OPTIONS = _numeric_options()
# required arguments, so that only the value under test can be wrong
BASE_ARGV = {
    "perf": ["-m", "llama-3.1-8b", "-g", "h100-sxm"],
    "cost": ["-m", "llama-3.1-8b", "-g", "h100-sxm"],
    "frontier": ["-m", "llama-3.1-8b", "-g", "h100-sxm"],
    "calibrate": ["latest", "--model", "llama-3.1-8b", "--gpu", "h100-sxm"],
    "provider run": ["alibaba-100b"],
    "provider compare": ["alibaba-100b"],
    "provider sensitivity": ["alibaba-100b"],
    "bench run": ["--url", "http://127.0.0.1:9"],
    "bench show": ["latest"],
    "bench cost": ["latest"],
}


def test_every_numeric_option_has_a_documented_range():
    missing = [f"{c} {o}" for c, o, _, lim in NUMERIC_OPTIONS if lim is None]
    assert not missing, f"add these options to inferonomics.limits.FLAGS: {missing}"
    assert len(NUMERIC_OPTIONS) > 60
    # where Typer has its own min/max, the table agrees (one range, shown once in --help and errors)
    import typer

    from inferonomics.cli import app

    def walk(cmd, path):
        for p in cmd.params:
            if getattr(p, "min", None) is not None or getattr(p, "max", None) is not None:
                from inferonomics.limits import flag_limit

                lim = flag_limit(" ".join(path), max(p.opts, key=len))
                assert (lim.lo, lim.hi) == (p.min, lim.hi if p.max is None else p.max), (path, p.opts, lim)
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, path + [name])

    walk(typer.main.get_command(app), [])


def _bad_values(ann, lim):
    vals = ["nan", "inf", "-inf", "1e999"]
    if lim.lo is not None:
        vals.append(f"{lim.lo:g}" if lim.lo_open else f"{lim.lo - 1:g}")
    if lim.hi is not None:
        vals.append(f"{lim.hi:g}" if lim.hi_open else f"{lim.hi * 10 + 1:g}")
    if ann is int:
        vals += ["1.5", "1e3"]
    return list(dict.fromkeys(vals))


FLAG_CASES = [
    pytest.param(cmd, opt, v, id=f"{cmd or 'root'} {opt}={v}")
    for cmd, opt, ann, lim in NUMERIC_OPTIONS if lim is not None
    for v in _bad_values(ann, lim)
]


@pytest.mark.parametrize("cmd,opt,value", FLAG_CASES)
def test_numeric_option_refuses(cmd, opt, value, tmp_path, monkeypatch, capsys):
    argv = cmd.split() + BASE_ARGV.get(cmd, []) + [f"{opt}={value}"]
    if cmd.startswith("bench"):
        argv = ["bench", "--data-dir", str(tmp_path / "db")] + argv[1:]
    rc, out, err, elapsed, before, after = run_case(tmp_path, argv, None, monkeypatch, capsys)
    check_common(rc, out, err, elapsed, before, after, (2,))
    assert opt in err, err
    shown = value if value in err else f"{float(value):g}" if value.lstrip("-").replace(".", "").isdigit() else value
    assert shown in err or repr(float(value)) in err or "not a valid" in err, err


def test_corpus_size():
    """The issue's bar: at least 300 bad inputs across all commands and file types."""
    n = len(CLI_CASES) + len(DOC_CASES) + len(FLAG_CASES)
    assert n >= 300, n
    assert len({c["id"] for c in CLI_CASES}) == len(CLI_CASES)
    assert {"workload", "scenario", "catalog", "litellm", "prompts"} <= set(DOCS["file_types"])
    assert math.isfinite(CASE_LIMIT_S)


# --- part 4: what a server sends back (fault-injecting fake server) ----------------------------------
SSE = yaml.safe_load((DATA / "sse_faults.yaml").read_text(encoding="utf-8"))


def _behaviour(case: dict):
    from inferonomics.bench.fakeserver import Behaviour

    if "events" in case:
        evs = tuple(b"[" * 100_000 + b"]" * 100_000 if e == "deep_json" else e.encode() for e in case["events"])
        return Behaviour("raw", raw_events=evs, usage_override=case.get("usage"))
    return Behaviour(case["kind"], token_delay_s=0.05, oversized_bytes=case.get("oversized_bytes", 0),
                     usage_override=case.get("usage"))


def _bench(tmp_path, monkeypatch, capsys, script, *extra, **server_kw):
    import json

    from inferonomics.bench.fakeserver import FakeServer

    srv = FakeServer(script, **server_kw)
    with srv.running_in_thread():
        argv = ["bench", "--data-dir", str(tmp_path / "db"), "run", "--url", srv.url, "--json", *extra]
        rc, out, err, elapsed, _before, _after = run_case(tmp_path, argv, None, monkeypatch, capsys)
    assert "Traceback" not in out + err, err[-3000:]
    assert elapsed < CASE_LIMIT_S
    return rc, (json.loads(out) if rc in (0, 3) and out.strip() else None), err


@pytest.mark.parametrize("case", SSE["streams"], ids=[c["id"] for c in SSE["streams"]])
def test_malformed_stream_fails_one_request_not_the_run(case, tmp_path, monkeypatch, capsys):
    import itertools

    from inferonomics.bench.fakeserver import Behaviour

    streamed = itertools.count()
    bad = _behaviour(case)

    def script(i, body):
        if not body.get("stream"):
            return Behaviour()  # the setup probe
        return bad if next(streamed) == 0 else Behaviour()

    rc, doc, err = _bench(tmp_path, monkeypatch, capsys, script, "-n", "4", "-c", "2", "--timeout", "1.5")
    assert rc == 0, err
    sm = doc["summary"]
    assert doc["status"] == "complete"
    assert sm["n_requests"] == 4
    if case.get("ok"):
        assert sm["n_ok"] == 4, sm["errors_by_type"]
        return
    assert sm["n_ok"] == 3 and sm["n_errors"] == 1, sm
    (kind_type,) = sm["errors_by_type"]
    assert kind_type.startswith(":".join(case["error"])), sm["errors_by_type"]


@pytest.mark.parametrize("case", SSE["probes"], ids=[c["id"] for c in SSE["probes"]])
def test_malformed_probe_reply_does_not_stop_the_run(case, tmp_path, monkeypatch, capsys):
    from inferonomics.bench.fakeserver import Behaviour

    def script(i, body):
        return Behaviour(usage_override=case["usage"]) if not body.get("stream") else Behaviour()

    rc, doc, err = _bench(tmp_path, monkeypatch, capsys, script, "-n", "2", "--timeout", "2")
    assert rc == 0, err
    assert doc["summary"]["n_ok"] == 2
    assert "malformed probe reply" in (doc["config"]["endpoint"].get("probe_error") or "")


def test_every_request_failed_exits_3_and_keeps_the_run(tmp_path, monkeypatch, capsys):
    from inferonomics.bench.fakeserver import Behaviour

    def script(i, body):
        return Behaviour() if not body.get("stream") else Behaviour("http_500")

    rc, doc, err = _bench(tmp_path, monkeypatch, capsys, script, "-n", "3")
    assert rc == 3, err
    assert doc["summary"]["n_requests"] == 3 and doc["summary"]["n_ok"] == 0
    assert "every one of the 3 requests failed" in err
    assert (tmp_path / "db" / "bench.sqlite").exists()


@pytest.mark.parametrize("timeout_s", ["0.5", "1"])
def test_setup_honours_timeout_against_a_server_that_never_answers(timeout_s, tmp_path, monkeypatch, capsys):
    rc, _doc, err = _bench(tmp_path, monkeypatch, capsys, None, "--timeout", timeout_s, silent=True)
    assert rc == 2
    assert f"did not answer within --timeout {timeout_s} s" in err, err
    assert not (tmp_path / "db").exists()  # refused before anything was stored


def test_setup_timeout_with_the_model_given(tmp_path, monkeypatch, capsys):
    """With --model, setup skips /v1/models and asks the tokenizer routes and the probe: still bounded."""
    t0 = time.monotonic()
    rc, _doc, err = _bench(tmp_path, monkeypatch, capsys, None, "--timeout", "0.5", "--model", "m", silent=True)
    assert rc == 2 and "--timeout 0.5 s" in err, err
    # one route at most before giving up (0.5 s), not 3 routes x 60 s + a probe
    assert time.monotonic() - t0 < 5


# --- part 5: properties (hypothesis) -----------------------------------------------------------------
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -0.0, 1e-300, 5e-324, 1e308, -1e308, 2**53 + 1, 2**63]),
)
HOSTILE_VALUE = st.one_of(
    ANY_NUMBER, st.none(), st.booleans(), st.text(max_size=8), st.lists(st.floats(), max_size=3),
    st.dictionaries(st.sampled_from(["value", "assumption", "source", "date", "dist", "p10", "p90"]),
                    st.one_of(ANY_NUMBER, st.text(max_size=6)), max_size=4),
)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPS
@given(data=st.data())
def test_every_numeric_option_is_finite_and_in_range_or_refused_by_name(data):
    """The callback the CLI puts on every numeric option: accepts exactly the finite in-range values."""
    import typer

    from inferonomics.cli import app, guard_numbers
    from inferonomics.errors import InputError

    cmd_path, opt, ann, lim = data.draw(st.sampled_from(NUMERIC_OPTIONS))
    cmd = typer.main.get_command(app)
    guard_numbers(cmd)
    node = cmd
    for part in cmd_path.split():
        node = node.commands[part]
    (param,) = [p for p in node.params if max(p.opts, key=len) == opt]
    x = data.draw(st.integers(min_value=-(10**12), max_value=10**12) if ann is int else ANY_NUMBER)
    try:
        got = param.callback(None, param, x)
    except InputError as exc:
        assert not lim.ok(float(x)) if math.isfinite(float(x)) else True
        assert opt in str(exc) and repr(x) in str(exc)
        return
    assert got == x and math.isfinite(float(x)) and lim.ok(float(x))


WORKLOAD_BASE = yaml.safe_load(DOCS["file_types"]["workload"]["base"])
WORKLOAD_FIELDS = DOCS["file_types"]["workload"]["fields"]


@PROPS
@given(changes=st.dictionaries(st.sampled_from(WORKLOAD_FIELDS), HOSTILE_VALUE, min_size=1, max_size=4))
def test_generated_workload_documents_are_valid_or_refused_by_field(changes):
    import copy

    from inferonomics.decide.workload import WorkloadError, parse_workload

    doc = copy.deepcopy(WORKLOAD_BASE)
    for path, v in changes.items():
        _set_path(doc, path, v)
    try:
        w = parse_workload(doc, "generated.yaml")
    except WorkloadError as exc:
        msg = str(exc)
        assert msg.startswith("generated.yaml: ")
        assert any(_needle(p) in msg for p in changes) or "input_tokens_per_month + output" in msg, msg
        assert "function-after" not in msg
        # no Python None leaks into the message (a value the user wrote as the text 'None' may be quoted)
        assert "None" not in msg.replace(repr("None"), ""), msg
        return
    for path in changes:  # accepted: every number finite, in its range
        x = w.number(path.split("[")[0]) if "[" not in path else w.gpus_per_instance[0]
        assert x is None or math.isfinite(x), (path, x)


CATALOG_BASE = yaml.safe_load(DOCS["file_types"]["catalog"]["base"])
CATALOG_FIELDS = DOCS["file_types"]["catalog"]["fields"]


@PROPS
@given(changes=st.dictionaries(st.sampled_from(CATALOG_FIELDS), HOSTILE_VALUE, min_size=1, max_size=3))
def test_generated_catalog_records_are_valid_or_refused_by_field(changes):
    import copy

    from inferonomics.catalog import _SECTIONS, CatalogFileError, _load_file

    doc = copy.deepcopy(CATALOG_BASE)
    for path, v in changes.items():
        _set_path(doc, path, v)
    out, origin = {s: {} for s in _SECTIONS}, {}
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        _load_file("generated.yaml", text, out, origin)
    except CatalogFileError as exc:
        msg = str(exc)
        assert msg.startswith("generated.yaml")
        assert any(_needle(p) in msg for p in changes), msg
        return
    acc = out["accelerators"]["h100-sxm"]
    for name in ("memory_gib", "memory_bw_gb_s", "tdp_w", "purchase_price_usd", "rental_usd_per_gpu_hour"):
        v = getattr(acc, name).value
        assert math.isfinite(v) and v >= 0 and (v > 0 or name in ("purchase_price_usd", "rental_usd_per_gpu_hour"))
    eff = out["efficiency"]["hopper"]
    assert 0 < eff.prefill_compute_eff.value <= 2 and 0 < eff.memory_bw_eff.value <= 2


YAML_ALPHABET = st.sampled_from(list("ab:- []{},&*!|>'\"#\n\t .0123456789e+") + ["&a ", "*a", "<<: ", ".nan", ".inf",
                                                                                 "!!python/", "\\x", "%YAML"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(YAML_ALPHABET, max_size=60))
def test_any_text_through_the_yaml_gate_is_a_value_or_a_named_refusal(parts):
    from inferonomics.io import InputFileError, parse_yaml

    try:
        parse_yaml("".join(parts), "fuzz.yaml")
    except InputFileError as exc:
        assert str(exc).startswith("fuzz.yaml: ")


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_through_the_json_gate_are_a_value_or_a_named_refusal(raw):
    from inferonomics.io import InputFileError, parse_json

    try:
        parse_json(raw, "fuzz.json")
    except InputFileError as exc:
        assert str(exc).startswith("fuzz.json: ")


def test_alias_bomb_is_refused_without_expanding():
    """The expanded size is counted on the node graph: a 9^12 bomb is refused in milliseconds."""
    from inferonomics.io import InputFileError, parse_yaml

    bomb = generate({"gen": "alias_bomb", "levels": 12, "width": 9}).decode()
    t0 = time.monotonic()
    with pytest.raises(InputFileError, match="alias"):
        parse_yaml(bomb, "bomb.yaml")
    assert time.monotonic() - t0 < CASE_LIMIT_S
    # a document that shares one anchor a few times is fine
    assert parse_yaml("a: &x {v: 1}\nb: *x\nc: *x\n", "ok.yaml") == {"a": {"v": 1}, "b": {"v": 1}, "c": {"v": 1}}
