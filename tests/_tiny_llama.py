"""A real llama.cpp server (llama-cpp-python) on a tiny model the tests make themselves.

* tokenizer: a real SentencePiece model (BPE with byte fallback, ~1000 pieces) trained on text generated
  here (a Zipf-distributed vocabulary of pseudo-words);
* model: the llama architecture with random weights (2 layers, hidden 64, 4 heads, 2 KV heads), written
  with the ``gguf`` package;
* every output is valid UTF-8 and exactly ``max_tokens`` long: dimension 0 of every token embedding is
  a large constant, so after the final RMSNorm it is a near-constant positive feature; the output layer
  weighs it at -20 for EOS, control, unknown, unused and byte tokens, a bias of about -150 on their logits.

Known behaviour of this server: no ``usage`` in streamed responses; requests are served one at a time
(it is started with ``interrupt_requests: false`` so a new request does not cut the running stream).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, FF, VOCAB, N_CTX = 64, 2, 4, 2, 128, 1000, 1024
ALIAS = "tiny-llama"
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def training_text(seed: int = 0, n_words: int = 60000) -> list[str]:
    """Sentences of pseudo-words drawn from a Zipf-like vocabulary (seeded)."""
    rng = np.random.default_rng(seed)
    cons, vow = "bcdfghjklmnprstvwz", "aeiou"
    lex = ["".join(rng.choice(list(cons)) + rng.choice(list(vow)) for _ in range(rng.integers(1, 4)))
           for _ in range(3000)]
    p = 1.0 / np.arange(1, len(lex) + 1)
    idx = rng.choice(len(lex), size=n_words, p=p / p.sum())
    words = [lex[i] for i in idx]
    return [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]


def train_tokenizer():
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text()), model_writer=buf, vocab_size=VOCAB, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        hard_vocab_limit=False, num_threads=2, minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


def write_gguf(path: Path, seed: int = 0) -> Path:
    import gguf

    sp = train_tokenizer()
    n_vocab = sp.get_piece_size()
    tokens, scores, types, bad = [], [], [], []
    for i in range(n_vocab):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        else:
            t = gguf.TokenType.NORMAL
        types.append(int(t))
        bad.append(t != gguf.TokenType.NORMAL)
    rng = np.random.default_rng(seed)

    def w(*shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    hd = HIDDEN // HEADS
    wr = gguf.GGUFWriter(str(path), "llama")
    wr.add_name("inferonomics tiny test llama")
    wr.add_context_length(N_CTX)
    wr.add_embedding_length(HIDDEN)
    wr.add_block_count(LAYERS)
    wr.add_feed_forward_length(FF)
    wr.add_head_count(HEADS)
    wr.add_head_count_kv(KV_HEADS)
    wr.add_rope_dimension_count(hd)
    wr.add_layer_norm_rms_eps(1e-5)
    wr.add_vocab_size(n_vocab)
    wr.add_file_type(0)  # all F32
    wr.add_tokenizer_model("llama")
    wr.add_tokenizer_pre("default")
    wr.add_token_list(tokens)
    wr.add_token_scores(scores)
    wr.add_token_types(types)
    wr.add_unk_token_id(0)
    wr.add_bos_token_id(1)
    wr.add_eos_token_id(2)
    wr.add_add_bos_token(True)
    wr.add_add_eos_token(False)
    wr.add_chat_template(CHAT_TEMPLATE)

    emb = w(n_vocab, HIDDEN)
    emb[:, 0] = 1.0  # the near-constant feature the output bias rides on
    wr.add_tensor("token_embd.weight", emb)
    for b in range(LAYERS):
        wr.add_tensor(f"blk.{b}.attn_norm.weight", np.ones(HIDDEN, np.float32))
        wr.add_tensor(f"blk.{b}.attn_q.weight", w(HEADS * hd, HIDDEN))
        wr.add_tensor(f"blk.{b}.attn_k.weight", w(KV_HEADS * hd, HIDDEN))
        wr.add_tensor(f"blk.{b}.attn_v.weight", w(KV_HEADS * hd, HIDDEN))
        wr.add_tensor(f"blk.{b}.attn_output.weight", w(HIDDEN, HEADS * hd))
        wr.add_tensor(f"blk.{b}.ffn_norm.weight", np.ones(HIDDEN, np.float32))
        wr.add_tensor(f"blk.{b}.ffn_gate.weight", w(FF, HIDDEN))
        wr.add_tensor(f"blk.{b}.ffn_up.weight", w(FF, HIDDEN))
        wr.add_tensor(f"blk.{b}.ffn_down.weight", w(HIDDEN, FF))
    wr.add_tensor("output_norm.weight", np.ones(HIDDEN, np.float32))
    out = w(n_vocab, HIDDEN, std=1.0)
    out[:, 0] = np.where(np.array(bad), -20.0, 0.0)
    wr.add_tensor("output.weight", out)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1 and a free port; ``url``; ``kill()`` for fault tests."""

    def __init__(self, model_path: Path, workdir: Path, cpus: set[int] | None = None):
        self.cpus = cpus  # run the server on these CPUs only (Linux), e.g. away from the client's
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = {
            "host": "127.0.0.1", "port": self.port, "interrupt_requests": False,
            "models": [{"model": str(model_path), "model_alias": ALIAS, "n_ctx": N_CTX, "n_threads": 1,
                        "n_threads_batch": 1, "n_batch": 512, "verbose": False}],
        }
        self.cfg_path = workdir / f"llama-server-{self.port}.json"
        self.cfg_path.write_text(json.dumps(cfg))
        self.log_path = workdir / f"llama-server-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout_s: float = 90.0) -> LlamaServer:
        self._log = log = open(self.log_path, "wb")  # noqa: SIM115 (the server's log, open while it runs)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cpus = self.cpus
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus and hasattr(os, "sched_setaffinity") else None
        self.proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--config_file", str(self.cfg_path)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=pin)  # noqa: PLW1509
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"llama.cpp server did not start in {timeout_s} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


# A user catalog that describes the tiny model and the machine serving it, so perf, cost and calibrate can
# use them (every number is an assumption about a test machine, said so).
CATALOG_YAML = f"""\
models:
- slug: tiny-llama
  name: inferonomics tiny test llama
  family: test
  source: generated by tests/_tiny_llama.py (random weights)
  date: '2026-11-28'
  num_layers: {LAYERS}
  hidden_size: {HIDDEN}
  num_attention_heads: {HEADS}
  num_kv_heads: {KV_HEADS}
  head_dim: {HIDDEN // HEADS}
  intermediate_size: {FF}
  vocab_size: {VOCAB}
  max_context: {N_CTX}
accelerators:
- slug: test-cpu
  name: test CPU
  vendor: test
  family: test-cpu
  peak_dense_tflops:
    bf16: {{value: 0.1, assumption: "order of magnitude of two x86 cores with AVX2 (test machine)"}}
  memory_gib: {{value: 8, assumption: test machine}}
  memory_bw_gb_s: {{value: 20, assumption: test machine}}
  tdp_w: {{value: 65, assumption: test machine}}
  scaleup_bw_gb_s: {{value: 10, assumption: "one device, not used"}}
  scaleup_domain_gpus: {{value: 1, assumption: one device}}
  purchase_price_usd: {{value: 500, assumption: test machine}}
  rental_usd_per_gpu_hour: {{value: 0.05, assumption: test machine}}
"""


def write_catalog(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "tiny.yaml").write_text(CATALOG_YAML)
    return d


def use_tiny_catalog(tmp_path: Path, monkeypatch) -> Path:
    """Point this test's data directory and catalog at ``tmp_path`` (the tiny model and its CPU
    accelerator); returns ``tmp_path``."""
    monkeypatch.setenv("INFERONOMICS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INFERONOMICS_CATALOG_DIR", str(write_catalog(tmp_path / "catalog")))
    return tmp_path
