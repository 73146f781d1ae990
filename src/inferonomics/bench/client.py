"""The HTTP side of the load generator: one streamed request → one :class:`RequestRecord`.

Built on ``aiohttp`` (asyncio, a C HTTP parser): measured with ``benchmarks/bench_client_overhead.py``
it costs about a quarter of httpx's CPU per streamed token and a small fraction of it per request, and
the load generator must never be the bottleneck.  The SSE stream is parsed from raw bytes as it
arrives; each network read is time-stamped once, so events that arrive together share a timestamp
(they did arrive together).
Also here: the endpoint's tokenizer through its tokenize route, when it has one (llama.cpp's
``/tokenize``, vLLM's ``/tokenize``, llama-cpp-python's ``/extras/tokenize``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from array import array
from dataclasses import dataclass, field

import aiohttp

from inferonomics.bench.records import OUTPUT_TOKEN_SOURCES, RequestRecord, count_output_tokens

APIS = ("completions", "chat")


def split_url(url: str) -> str:
    """The server root of an OpenAI-compatible base URL (``http://h:8000/v1`` → ``http://h:8000``)."""
    u = url.strip().rstrip("/")
    u = u.removesuffix("/v1")
    return u


class SSEParser:
    """Incremental Server-Sent Events parser: bytes in, ``(event, data)`` pairs out (data as bytes)."""

    __slots__ = ("buf", "data", "event")

    def __init__(self) -> None:
        self.buf = b""
        self.data: list[bytes] = []
        self.event = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        buf = self.buf + chunk if self.buf else chunk
        lines = buf.split(b"\n")
        self.buf = lines.pop()
        out = []
        for ln in lines:
            if ln[-1:] == b"\r":
                ln = ln[:-1]
            if not ln:
                if self.data:
                    out.append((self.event, self.data[0] if len(self.data) == 1 else b"\n".join(self.data)))
                    self.data = []
                self.event = b""
            elif ln[:5] == b"data:":
                v = ln[5:]
                self.data.append(v[1:] if v[:1] == b" " else v)
            elif ln[:6] == b"event:":
                self.event = ln[6:].strip()
            # comments (": ping") and id:/retry: fields are ignored
        return out

    def flush(self) -> list[tuple[bytes, bytes]]:
        """Events left when the stream ends without a final blank line."""
        out = self.feed(b"\n\n") if (self.buf or self.data) else []
        self.buf = b""
        return out


MAX_EVENT_BYTES = 8 * 1024 * 1024  # one SSE event larger than this fails its request (a runaway stream)


class MalformedChunk(ValueError):
    """A streamed event (or a usage block) that does not follow the OpenAI schema; fails that request."""


def delta_text(obj: dict) -> str:
    """Output text an event carries: completions ``text``; chat ``content``, reasoning and tool calls.

    Raises :class:`MalformedChunk` when ``choices`` is not a list or a text field is not a string."""
    choices = obj.get("choices")
    if choices is None:
        return ""
    if not isinstance(choices, list):
        raise MalformedChunk(f"'choices' must be a list, got {type(choices).__name__}")
    if not choices:
        return ""
    c = choices[0]
    if not isinstance(c, dict):
        raise MalformedChunk(f"'choices[0]' must be an object, got {type(c).__name__}")
    t = c.get("text")
    if t is not None and not isinstance(t, str):
        raise MalformedChunk(f"'choices[0].text' must be a string, got {type(t).__name__} {t!r:.40}")
    if t:
        return t
    d = c.get("delta")
    if d is None:
        return ""
    if not isinstance(d, dict):
        raise MalformedChunk(f"'choices[0].delta' must be an object, got {type(d).__name__}")
    parts = [d.get("content"), d.get("reasoning_content"), d.get("reasoning")]
    for name, v in zip(("content", "reasoning_content", "reasoning"), parts, strict=True):
        if v is not None and not isinstance(v, str):
            raise MalformedChunk(f"'choices[0].delta.{name}' must be a string, got {type(v).__name__} {v!r:.40}")
    for tc in d.get("tool_calls") or ():
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            parts += [fn.get("name"), fn.get("arguments")]
    return "".join(p for p in parts if isinstance(p, str))


@dataclass
class Endpoint:
    """Where and how to send requests.  ``api``: ``completions`` or ``chat``."""

    url: str
    api: str = "completions"
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    ignore_eos: bool = True
    stream_usage: bool = True
    temperature: float | None = None
    extra_body: dict = field(default_factory=dict)
    output_tokens_from: tuple[str, ...] = OUTPUT_TOKEN_SOURCES
    keep_text: bool = True

    @property
    def root(self) -> str:
        return split_url(self.url)

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.api == "chat" else "/v1/completions"

    def headers(self) -> dict:
        h = {"accept": "text/event-stream"}
        if self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        return h

    def client(self, max_connections: int | None = None) -> aiohttp.ClientSession:
        """An HTTP session (call inside a running event loop); ``max_connections=None``: no limit."""
        conn = aiohttp.TCPConnector(limit=max_connections or 0, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s)
        return aiohttp.ClientSession(connector=conn, timeout=timeout, headers=self.headers())

    def url_of(self, path: str) -> str:
        return self.root + path

    def body(self, prompt: str | None, messages: list | None, max_tokens: int, stream: bool = True) -> dict:
        b: dict = {"model": self.model, "max_tokens": int(max_tokens), "stream": stream}
        if self.api == "chat":
            b["messages"] = messages if messages is not None else [{"role": "user", "content": prompt or ""}]
        else:
            b["prompt"] = prompt if prompt is not None else ""
        if stream and self.stream_usage:
            b["stream_options"] = {"include_usage": True}
        if self.ignore_eos:
            b["ignore_eos"] = True
        if self.temperature is not None:
            b["temperature"] = self.temperature
        b.update(self.extra_body)
        if b["model"] is None:
            del b["model"]
        return b


TRANSPORT_ERRORS = (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError, OSError)


def token_count(v: object, what: str) -> int | None:
    """A token count from a server's ``usage`` block: ``None`` when absent; a whole number >= 0 (an
    integral float is accepted); anything else (a string, NaN, a negative or huge number) is malformed."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MalformedChunk(f"usage.{what} must be a whole number of tokens, got {type(v).__name__} {v!r:.40}")
    if not (math.isfinite(v) and 0 <= v <= 1e12) or (isinstance(v, float) and not v.is_integer()):
        raise MalformedChunk(f"usage.{what} must be a whole number of tokens from 0 to 1e12, got {v!r}")
    return int(v)


def usage_counts(u: object) -> tuple[int | None, int | None]:
    """(completion_tokens, prompt_tokens) of a usage block (``None`` for a missing one)."""
    if u is None:
        return None, None
    if not isinstance(u, dict):
        raise MalformedChunk(f"'usage' must be an object, got {type(u).__name__}")
    return token_count(u.get("completion_tokens"), "completion_tokens"), token_count(
        u.get("prompt_tokens"), "prompt_tokens")


def _exc_type(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "Timeout"
    return type(exc).__name__


async def send(
    client: aiohttp.ClientSession,
    ep: Endpoint,
    body: dict,
    rec: RequestRecord,
    t0: float,
) -> RequestRecord:
    """Send one streamed request and fill ``rec`` (times relative to ``t0``, a ``perf_counter`` value)."""
    pc = time.perf_counter
    loads = json.loads
    times: list[float] = []
    texts: list[str] = []
    usage_out = usage_in = None
    finish = None
    done = False
    fail: tuple[str, str, str] | None = None  # kind, type, detail
    url = ep.root + ep.path
    start = pc()
    rec.start_s = start - t0
    now = start
    try:
        async with asyncio.timeout(ep.timeout_s):
            async with client.post(url, json=body) as resp:
                rec.http_status = resp.status
                if resp.status >= 400:
                    raw = await resp.read()
                    now = pc()
                    fail = ("http", str(resp.status), raw[:300].decode("utf-8", "replace"))
                else:
                    ctype = resp.headers.get("Content-Type", "")
                    parser = SSEParser()
                    if "json" in ctype and "event-stream" not in ctype:
                        await resp.read()
                        now = pc()
                        fail = ("stream", "not_streamed", f"the server answered {ctype}, not an SSE stream")
                    else:
                        async for chunk in resp.content.iter_any():
                            now = pc()
                            if len(parser.buf) + len(chunk) > MAX_EVENT_BYTES:
                                fail = ("stream", "oversized_event",
                                        f"an SSE event longer than {MAX_EVENT_BYTES} bytes")
                                break
                            for ev, data in parser.feed(chunk):
                                if data == b"[DONE]":
                                    done = True
                                    continue
                                try:
                                    obj = loads(data)
                                except (ValueError, RecursionError):
                                    fail = ("stream", "malformed_sse", data[:200].decode("utf-8", "replace"))
                                    break
                                if not isinstance(obj, dict):
                                    fail = ("stream", "malformed_sse", data[:200].decode("utf-8", "replace"))
                                    break
                                if ev == b"error" or obj.get("error") is not None:
                                    err = obj.get("error", obj)
                                    msg = err.get("message", err) if isinstance(err, dict) else err
                                    fail = ("stream", "error_event", str(msg)[:300])
                                    break
                                try:
                                    t = delta_text(obj)
                                    ch = obj.get("choices")
                                    if isinstance(ch, list) and ch and ch[0].get("finish_reason"):
                                        fr = ch[0]["finish_reason"]
                                        if not isinstance(fr, str):
                                            raise MalformedChunk(f"'finish_reason' must be a string, got {fr!r:.40}")
                                        finish = fr
                                    u_out, u_in = usage_counts(obj.get("usage"))
                                except MalformedChunk as exc:
                                    fail = ("stream", "malformed_chunk", f"{exc}: {data[:160].decode('utf-8', 'replace')}")
                                    break
                                if t:
                                    times.append(now)
                                    texts.append(t)
                                usage_out = u_out if u_out is not None else usage_out
                                usage_in = u_in if u_in is not None else usage_in
                            if fail:
                                break
                        if not fail:
                            for _ev, data in parser.flush():
                                if data == b"[DONE]":
                                    done = True
                            now = pc()
                            if not done and finish is None:
                                fail = ("stream", "truncated", "the stream ended without [DONE] or a finish_reason")
    except TRANSPORT_ERRORS as exc:
        now = pc()
        fail = ("exception", _exc_type(exc), str(exc)[:300] or type(exc).__name__)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, UnicodeError) as exc:
        now = pc()  # anything else the server sent that the client cannot read fails this request only
        fail = ("stream", "malformed_chunk", f"{type(exc).__name__}: {str(exc)[:280]}")
    rec.end_s = now - t0
    rec.output_chunks = len(texts)
    text = "".join(texts)
    rec.output_chars = len(text)
    rec.finish_reason = finish
    if ep.keep_text:
        rec.output_text = text
    if times:
        rec.ttft_s = times[0] - start
        rec.itl_s = array("f", [b - a for a, b in itertools.pairwise(times)])  # 4 bytes a gap
    if usage_in is not None:
        rec.input_tokens, rec.input_tokens_source = int(usage_in), "usage"
    if fail is None and not texts:
        fail = ("empty", "no_output", f"the stream carried no output text (finish_reason={finish})")
    if fail is not None:
        rec.ok = False
        rec.error_kind, rec.error_type, rec.error_detail = fail
    else:
        rec.ok = True
    # tokenizer counts are filled in after the run (no extra load on the server while measuring)
    order = tuple(s for s in ep.output_tokens_from if s != "tokenizer") or ("chunks",)
    rec.output_tokens, rec.output_tokens_source = count_output_tokens(
        order, usage_out, finish, rec.max_tokens, None, len(texts)
    )
    return rec.finalize()


async def post_json(client: aiohttp.ClientSession, url: str, body: dict, timeout_s: float = 60.0):
    """POST JSON, return (status, parsed JSON or None, text).  A reply larger than ``MAX_EVENT_BYTES``
    or nested too deeply parses as ``None``."""
    async with asyncio.timeout(timeout_s):
        async with client.post(url, json=body) as r:
            raw = await r.content.read(MAX_EVENT_BYTES + 1)
            text = raw[:MAX_EVENT_BYTES].decode("utf-8", errors="replace")
            try:
                obj = json.loads(text) if len(raw) <= MAX_EVENT_BYTES else None
            except (ValueError, RecursionError):
                obj = None
            return r.status, obj, text


# --- the endpoint's tokenizer ----------------------------------------------------------------------
# (name, tokenize path, body builder, detokenize path, body builder, detokenize response key)
_ROUTES = (
    ("llama.cpp /tokenize", "/tokenize", lambda t, m: {"content": t, "add_special": False},
     "/detokenize", lambda ids, m: {"tokens": ids}, "content"),
    ("vLLM /tokenize", "/tokenize", lambda t, m: {"model": m, "prompt": t, "add_special_tokens": False},
     "/detokenize", lambda ids, m: {"model": m, "tokens": ids}, "prompt"),
    ("llama-cpp-python /extras/tokenize", "/extras/tokenize", lambda t, m: {"input": t, "model": m},
     "/extras/detokenize", lambda ids, m: {"tokens": ids, "model": m}, "text"),
)


class RouteTokenizer:
    """The endpoint's own tokenizer through its HTTP tokenize route.

    ``count(text)`` is the number of tokens of ``text`` alone: tokens the route adds to every input (a
    BOS token, measured as the tokens of the empty string) are subtracted."""

    def __init__(self, client: aiohttp.ClientSession, root: str, model: str | None, route: tuple,
                 timeout_s: float = 60.0):
        self.client = client
        self.timeout_s = timeout_s
        self.root = root
        self.model = model
        self.name, self._tp, self._tb, self._dp, self._db, self._dk = route
        self.prefix: list[int] = []
        self.can_decode = False

    @classmethod
    async def detect(cls, client: aiohttp.ClientSession, root: str, model: str | None,
                     timeout_s: float = 60.0) -> RouteTokenizer | None:
        """The first tokenize route the server answers.  A route that does not answer within ``timeout_s``
        raises ``TimeoutError`` (a server that hangs is not tried three more times)."""
        for route in _ROUTES:
            tok = cls(client, root, model, route, timeout_s)
            try:
                ids = await tok.encode_raw("hello world")
            except TimeoutError:
                raise
            except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError):
                continue
            if not ids:
                continue
            try:
                tok.prefix = await tok.encode_raw("")
            except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError):
                tok.prefix = []
            body = ids[len(tok.prefix):] if ids[: len(tok.prefix)] == tok.prefix else ids
            try:
                back = await tok.decode(body)
                tok.can_decode = isinstance(back, str) and "hello" in back
            except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError):
                tok.can_decode = False
            return tok
        return None

    async def encode_raw(self, text: str) -> list[int]:
        status, obj, _ = await post_json(self.client, self.root + self._tp, self._tb(text, self.model), self.timeout_s)
        if status != 200 or not isinstance(obj, dict):
            raise ValueError(f"tokenize route answered HTTP {status}")
        toks = obj["tokens"]
        if not isinstance(toks, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in toks):
            # llama.cpp with_pieces returns dicts; we never ask for pieces
            raise ValueError("unexpected tokenize response")
        return toks

    async def encode(self, text: str) -> list[int]:
        ids = await self.encode_raw(text)
        n = len(self.prefix)
        return ids[n:] if n and ids[:n] == self.prefix else ids

    async def count(self, text: str) -> int:
        return len(await self.encode(text))

    async def decode(self, ids: list[int]) -> str:
        status, obj, _ = await post_json(self.client, self.root + self._dp, self._db(list(ids), self.model),
                                         self.timeout_s)
        if status != 200 or not isinstance(obj, dict):
            raise ValueError(f"detokenize route answered HTTP {status}")
        return obj[self._dk]
