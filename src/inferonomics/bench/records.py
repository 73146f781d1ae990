"""One measured request, and the definitions that turn its timestamps into metrics.

Definitions (also in docs/bench-metrics.md):

* times are seconds on a monotonic clock, relative to the run's start; ``start_s`` is when the client
  sends the request (after any wait for a free concurrency slot), ``scheduled_s`` when the load pattern
  wanted it sent (Poisson arrivals; equal to ``start_s`` for a fixed concurrency);
* TTFT = arrival of the first SSE event that carries output text (content, reasoning or tool-call
  text; a role-only or empty chunk does not count) − ``start_s``;
* E2E = arrival of the end of the stream (``[DONE]`` or the connection's end) − ``start_s``;
* TPOT = (E2E − TTFT) / (output tokens − 1), for requests with at least 2 output tokens;
* ITL = the gaps between successive events that carry output text (one value per gap; an event may
  carry more than one token, see ``output_chunks``);
* output tokens: from the server's ``usage`` when it sends it; else ``max_tokens`` when the stream ends
  with ``finish_reason == "length"``; else the endpoint's tokenizer on the output text; else the
  number of content-carrying chunks.  ``output_tokens_source`` says which.
"""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, field

# error kinds: the HTTP status was >= 400; an exception (connection, timeout, protocol); an error inside
# the stream (an error object, malformed SSE, a stream cut short); a stream without any output text.
ERROR_KINDS = ("http", "exception", "stream", "empty")
OUTPUT_TOKEN_SOURCES = ("usage", "length", "tokenizer", "chunks")
INPUT_TOKEN_SOURCES = ("usage", "tokenizer", "calibrated", "estimate")


@dataclass(slots=True)
class RequestRecord:
    idx: int
    phase: str = "measure"  # "measure" or "warmup" (warm-up requests are stored, never aggregated)
    ok: bool = False
    error_kind: str | None = None
    error_type: str | None = None
    error_detail: str | None = None
    http_status: int | None = None
    scheduled_s: float | None = None
    start_s: float = 0.0
    end_s: float = 0.0
    ttft_s: float | None = None
    e2e_s: float | None = None
    tpot_s: float | None = None
    input_tokens: int | None = None
    input_tokens_source: str | None = None
    output_tokens: int | None = None
    output_tokens_source: str | None = None
    output_chunks: int = 0
    output_chars: int = 0
    finish_reason: str | None = None
    target_input_tokens: int | None = None
    max_tokens: int | None = None
    itl_s: array | list[float] = field(default_factory=lambda: array("f"))  # seconds, float32
    output_text: str | None = None

    def finalize(self) -> RequestRecord:
        """Derive E2E and TPOT from the timestamps and token counts (idempotent)."""
        self.e2e_s = self.end_s - self.start_s
        self.tpot_s = None
        if self.ok and self.ttft_s is not None and self.output_tokens is not None and self.output_tokens >= 2:
            self.tpot_s = (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["itl_s"] = [float(x) for x in self.itl_s]
        return d


def count_output_tokens(
    order: tuple[str, ...],
    usage_tokens: int | None,
    finish_reason: str | None,
    max_tokens: int | None,
    tokenizer_tokens: int | None,
    chunks: int,
) -> tuple[int | None, str | None]:
    """The first available count in ``order`` (see the module docstring); (count, source)."""
    for src in order:
        if src == "usage" and usage_tokens is not None:
            return int(usage_tokens), "usage"
        if src == "length" and finish_reason == "length" and max_tokens:
            return int(max_tokens), "length"
        if src == "tokenizer" and tokenizer_tokens is not None:
            return int(tokenizer_tokens), "tokenizer"
        if src == "chunks":
            return int(chunks), "chunks"
    return None, None
