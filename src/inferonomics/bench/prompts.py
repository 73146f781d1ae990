"""Prompts for a run: synthetic ones of an exact input length, or a JSONL file.

Synthetic prompts are random pseudo-words (seeded; a different text for every request, so a prefix
cache cannot serve one request from another).  Their length is made exact with the endpoint's tokenizer
when it has a tokenize route: the text is tokenized, cut to the number of content tokens wanted and
detokenized, then re-counted (cutting at a token boundary can re-tokenize differently; neighbouring cuts
are tried until the count is exact).  The input length counts the tokens the *server* counts for the
request (``usage.prompt_tokens``): the tokens it adds to every prompt (BOS, the chat template) are
measured once with a probe request and taken off the content's share.  Without a tokenize route the
words-to-tokens ratio is calibrated from the usage the server reports for two probe prompts.

A JSONL file has one request per line: ``{"prompt": "..."}`` or ``{"messages": [...]}``, optionally
``"max_tokens"`` (else the run's output length).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inferonomics.errors import InputError

_CONS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"


@dataclass
class Prompt:
    prompt: str | None = None
    messages: list | None = None
    max_tokens: int = 64
    input_tokens: int | None = None  # as the server counts them, when known before sending
    input_tokens_source: str | None = None
    target_input_tokens: int | None = None

    def content(self) -> str:
        if self.messages is not None:
            return "\n".join(str(m.get("content", "")) for m in self.messages if isinstance(m, dict))
        return self.prompt or ""


def pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` pronounceable pseudo-words of 1 to 3 syllables."""
    syl = rng.integers(1, 4, size=n)
    c = rng.integers(0, len(_CONS), size=(n, 3))
    v = rng.integers(0, len(_VOWELS), size=(n, 3))
    return ["".join(_CONS[c[i, k]] + _VOWELS[v[i, k]] for k in range(syl[i])) for i in range(n)]


def load_jsonl(path: str | Path, default_max_tokens: int) -> list[Prompt]:
    p = Path(path)
    out = []
    from inferonomics.io import InputFileError, parse_json, read_text

    for i, line in enumerate(read_text(p, f"prompts file {p}").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = parse_json(line, f"{p}: line {i}")
        except InputFileError as exc:
            raise InputError(f"{p}: line {i}", line[:80], f"must be a JSON object ({exc})") from None
        if not isinstance(obj, dict) or not ({"prompt", "messages"} & set(obj)):
            raise InputError(f"{p}: line {i}", line[:80], 'needs a "prompt" string or a "messages" list')
        key = "max_tokens" if "max_tokens" in obj else "output_tokens"
        mt = obj.get(key, default_max_tokens)
        if isinstance(mt, bool) or not isinstance(mt, int) or not 1 <= mt <= 1_000_000:
            raise InputError(f"{p}: line {i}.{key}", mt, "must be a whole number of tokens from 1 to 1,000,000")
        msgs = obj.get("messages")
        if msgs is not None and not (isinstance(msgs, list) and all(isinstance(m, dict) for m in msgs)):
            raise InputError(f"{p}: line {i}.messages", msgs, "must be a list of {role, content} objects")
        pr = obj.get("prompt")
        if pr is not None and not isinstance(pr, str):
            raise InputError(f"{p}: line {i}.prompt", pr, "must be a string")
        out.append(Prompt(prompt=pr, messages=msgs, max_tokens=mt))
    if not out:
        raise InputError("prompts", str(p), "holds no requests")
    return out


async def exact_text(tok, rng: np.random.Generator, want: int, words_per_token: float) -> tuple[str, int]:
    """A pseudo-word text of ``want`` content tokens by the tokenizer ``tok``; (text, its count).

    The count is exact unless the tokenizer makes it impossible near ``want`` (then the closest found)."""
    if want <= 0:
        return "", 0
    n_words = int(want * words_per_token * 1.25) + 8
    text = " ".join(pseudo_words(rng, n_words))
    ids = await tok.encode(text)
    for _ in range(64):
        if len(ids) >= want + 4:
            break
        text += " " + " ".join(pseudo_words(rng, n_words))
        ids = await tok.encode(text)
    else:  # a tokenizer that never counts enough tokens (a broken tokenize route) must not loop forever
        raise ValueError(f"the tokenize route counts {len(ids)} tokens in {len(text.split())} words; cannot size "
                         f"a prompt of {want} tokens")
    best: tuple[str, int] | None = None
    if tok.can_decode:
        for d in (0, -1, 1, -2, 2, -3, 3):
            k = want + d
            if k < 1:
                continue
            cand = await tok.decode(ids[:k])
            if not isinstance(cand, str):
                raise TypeError(f"the detokenize route answered {type(cand).__name__}, not text")
            cand = cand.strip()
            c = await tok.count(cand)
            if c == want:
                return cand, c
            if best is None or abs(c - want) < abs(best[1] - want):
                best = (cand, c)
    # word-level: the longest prefix of whole words within ``want``, then one-letter words to fill up
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if await tok.count(" ".join(words[:mid])) <= want:
            lo = mid
        else:
            hi = mid - 1
    cur = words[:lo]
    c = await tok.count(" ".join(cur))
    for filler in "aeiousmtnl" * 4:
        if c >= want:
            break
        trial = cur + [filler]
        ct = await tok.count(" ".join(trial))
        if ct <= want:
            cur, c = trial, ct
    cand = (" ".join(cur), c)
    if best is None or abs(cand[1] - want) <= abs(best[1] - want):
        best = cand
    return best
