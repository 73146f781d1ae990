"""A canned OpenAI-compatible streaming endpoint: plain asyncio, no dependencies.

It serves ``/v1/completions`` and ``/v1/chat/completions`` (SSE when ``stream`` is true), ``/v1/models``
and a whitespace ``/tokenize`` + ``/detokenize`` (one token per word), and misbehaves on request: HTTP
500, malformed SSE, an error object inside the stream, empty output, a hang, a connection dropped
mid-stream.  The load generator's tests use it for faults, and ``benchmarks/bench_client_overhead.py``
uses it to measure the client's own cost (its events are pre-encoded, so the server does little work).

    srv = FakeServer(script=lambda i, body: Behaviour("http_500") if i % 3 == 0 else Behaviour())
    with srv.running_in_thread():
        ... srv.url ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("ok", "http_500", "malformed", "error_event", "empty", "hang", "drop", "no_done", "truncated", "raw",
         "slowloris", "oversized", "reset")


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one generation request.

    ``tokens``: output tokens (default: the request's ``max_tokens``, else 16); ``token_delay_s``: pause
    between tokens; ``first_delay_s``: pause before the first token; ``usage``: send ``usage`` when
    asked (``stream_options.include_usage``) — False mimics servers that never do; ``role_chunk``: chat
    streams start with a role-only chunk, as OpenAI's do."""

    kind: str = "ok"
    tokens: int | None = None
    token_delay_s: float = 0.0
    first_delay_s: float = 0.0
    usage: bool = True
    role_chunk: bool = True
    drop_after: int = 2
    # fault injection: ``raw`` sends ``raw_events`` (SSE event payloads, each sent as ``data: ...``) then
    # [DONE]; ``slowloris`` sends one byte every ``token_delay_s`` forever; ``oversized`` sends one event
    # of ``oversized_bytes`` with no line end; ``reset`` closes the connection right after the headers.
    # ``usage_override`` replaces the usage block (streamed and non-streamed replies alike).
    raw_events: tuple[bytes, ...] = ()
    oversized_bytes: int = 0
    usage_override: object = None


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(obj) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class FakeServer:
    """The endpoint; ``script(i, body)`` picks the :class:`Behaviour` of the i-th generation request."""

    def __init__(
        self,
        script: Callable[[int, dict], Behaviour] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-model",
        max_parallel: int | None = None,
        tokenize: bool = True,
        silent: bool = False,
    ):
        self.script = script or (lambda i, body: Behaviour())
        self.host = host
        self.port = port
        self.model = model
        self.n_generate = 0
        self._server: asyncio.base_events.Server | None = None
        self._vocab: dict[str, int] = {}
        self._words: list[str] = []
        self._cache: dict[tuple, bytes] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self.max_parallel = max_parallel  # streams served at once (others wait), like a server without batching
        self._slots: asyncio.Semaphore | None = None
        self.tokenize = tokenize  # serve /tokenize and /detokenize
        self.silent = silent  # accept connections, read requests, never answer (a hung server)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=2**20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    @contextlib.contextmanager
    def running_in_thread(self):
        """Serve from a daemon thread with its own event loop (for code that runs ``asyncio.run``)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve():
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        th = threading.Thread(target=serve, daemon=True, name="fake-openai-server")
        th.start()
        ready.wait(10)
        try:
            yield self
        finally:
            fut = asyncio.run_coroutine_threadsafe(self.stop(), loop)
            with contextlib.suppress(Exception):
                fut.result(5)
            loop.call_soon_threadsafe(loop.stop)
            th.join(5)

    # --- HTTP/1.1 ---------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for ln in lines[1:]:
                    if ":" in ln:
                        k, v = ln.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(n) if n else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                keep = await self._route(method, path, body, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _json(self, writer, status: int, obj) -> None:
        data = json.dumps(obj).encode()
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(status, "Error")
        writer.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, reason.encode(), len(data), data)
        )
        await writer.drain()

    async def _route(self, method: str, path: str, body: dict, writer) -> bool:
        path = path.split("?", 1)[0]
        if self.silent:
            await asyncio.sleep(3600)
            return False
        if method == "GET" and path == "/v1/models":
            await self._json(writer, 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
            return True
        if method == "POST" and path == "/tokenize" and self.tokenize:
            text = body.get("content", body.get("prompt", ""))
            await self._json(writer, 200, {"tokens": [self._id(w) for w in str(text).split()]})
            return True
        if method == "POST" and path == "/detokenize" and self.tokenize:
            toks = body.get("tokens", [])
            await self._json(writer, 200, {"content": " ".join(self._words[t] for t in toks)})
            return True
        if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            i = self.n_generate
            self.n_generate += 1
            chat, b = path.endswith("chat/completions"), self.script(i, body)
            if self.max_parallel:
                if self._slots is None:
                    self._slots = asyncio.Semaphore(self.max_parallel)
                async with self._slots:
                    return await self._generate(chat, body, b, writer)
            return await self._generate(chat, body, b, writer)
        await self._json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
        return True

    def _id(self, w: str) -> int:
        if w not in self._vocab:
            self._vocab[w] = len(self._words)
            self._words.append(w)
        return self._vocab[w]

    def _prompt_tokens(self, chat: bool, body: dict) -> int:
        if chat:
            return sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 3
        return len(str(body.get("prompt", "")).split()) + 1

    def _events(self, chat: bool, n: int, role: bool) -> list[bytes]:
        """Pre-encoded SSE events (cached): optional role chunk, n token chunks, the finish chunk."""
        key = (chat, n, role)
        if key in self._cache:
            return self._cache[key]
        out = []
        base = {"id": "cmpl-fake", "object": "chat.completion.chunk" if chat else "text_completion",
                "model": self.model}
        if chat and role:
            out.append(_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"},
                                                    "finish_reason": None}]}))
        for k in range(n):
            word = f" w{k % 10}"
            ch = {"index": 0, "delta": {"content": word}} if chat else {"index": 0, "text": word}
            out.append(_event({**base, "choices": [{**ch, "finish_reason": None}]}))
        fin = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
        out.append(_event({**base, "choices": [{**fin, "finish_reason": "length"}]}))
        if len(self._cache) < 64:
            self._cache[key] = out
        return out

    async def _generate(self, chat: bool, body: dict, b: Behaviour, writer) -> bool:
        if b.kind == "http_500":
            await self._json(writer, 500, {"error": {"message": "internal error (scripted)", "type": "server_error"}})
            return True
        n = b.tokens if b.tokens is not None else int(body.get("max_tokens") or 16)
        if not body.get("stream") and b.usage_override is not None:
            await self._json(writer, 200, {"id": "cmpl-fake", "model": self.model,
                                           "choices": [{"index": 0, "text": " w0", "finish_reason": "length"}],
                                           "usage": b.usage_override})
            return True
        if not body.get("stream"):
            text = "".join(f" w{k % 10}" for k in range(n))
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                      if chat else {"index": 0, "text": text, "finish_reason": "length"})
            await self._json(writer, 200, {
                "id": "cmpl-fake", "model": self.model, "choices": [choice],
                "usage": {"prompt_tokens": self._prompt_tokens(chat, body), "completion_tokens": n,
                          "total_tokens": self._prompt_tokens(chat, body) + n},
            })
            return True
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        if b.kind == "hang":
            await writer.drain()
            await asyncio.sleep(3600)
            return False
        if b.first_delay_s:
            await writer.drain()
            await asyncio.sleep(b.first_delay_s)
        if b.kind == "reset":
            await writer.drain()
            writer.transport.abort()
            return False
        if b.kind == "slowloris":
            for k in range(10**9):
                writer.write(_chunk(b"data: {"[k % 7: k % 7 + 1] or b" "))
                await writer.drain()
                await asyncio.sleep(b.token_delay_s or 0.05)
        if b.kind == "oversized":
            block = b"x" * 65536
            writer.write(_chunk(b"data: "))
            for _ in range(b.oversized_bytes // len(block) + 1):
                writer.write(_chunk(block))
                await writer.drain()
            writer.write(_chunk(b"\n\ndata: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        if b.kind == "raw":
            for ev in b.raw_events:
                writer.write(_chunk(b"data: " + ev + b"\n\n"))
            if b.usage_override is not None:
                writer.write(_chunk(_event({"id": "cmpl-fake", "choices": [], "usage": b.usage_override})))
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        if b.kind == "malformed":
            writer.write(_chunk(b'data: {"choices": [{"text": "x"\n\n'))
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        if b.kind == "error_event":
            writer.write(_chunk(self._events(chat, 1, b.role_chunk)[0]))
            writer.write(_chunk(_event({"error": {"message": "model overloaded (scripted)", "code": 503}})))
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        events = self._events(chat, 0 if b.kind == "empty" else n, b.role_chunk)
        if b.kind == "truncated":  # a clean end of the response, but neither a finish_reason nor [DONE]
            events = events[:-1]
        for k, ev in enumerate(events):
            if b.kind == "drop" and k >= b.drop_after:
                await writer.drain()
                writer.transport.abort()
                return False
            writer.write(_chunk(ev))
            if b.token_delay_s:
                await writer.drain()
                await asyncio.sleep(b.token_delay_s)
        opts = body.get("stream_options") or {}
        if b.usage_override is not None:
            writer.write(_chunk(_event({"id": "cmpl-fake", "model": self.model, "choices": [],
                                        "usage": b.usage_override})))
        elif b.usage and opts.get("include_usage"):
            p = self._prompt_tokens(chat, body)
            writer.write(_chunk(_event({"id": "cmpl-fake", "model": self.model, "choices": [], "usage": {
                "prompt_tokens": p, "completion_tokens": 0 if b.kind == "empty" else n,
                "total_tokens": p + (0 if b.kind == "empty" else n)}})))
        if b.kind not in ("no_done", "truncated"):
            writer.write(_chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
