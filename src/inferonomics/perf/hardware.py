"""Hardware and precision columns for the kernel, from catalog accelerators and efficiency factors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferonomics.catalog import Catalog
from inferonomics.catalog.records import KV_DTYPES, WEIGHT_DTYPES

if TYPE_CHECKING:
    from inferonomics.catalog.schema import Accelerator

HW_COLUMNS = (
    "peak_gemm_tflops",
    "peak_attn_tflops",
    "memory_gib",
    "memory_bw_gb_s",
    "scaleup_bw_gb_s",
    "scaleup_domain_gpus",
    "scaleout_bw_gb_s",
    "prefill_compute_eff",
    "decode_compute_eff",
    "memory_bw_eff",
    "step_overhead_s",
    "layer_overhead_s",
    "prefill_layer_overhead_s",
    "comm_latency_s",
    "moe_expert_eff",
    "expert_load_cv",
    "eplb_effectiveness",
    "scaleout_latency_s",
    "scaleout_bw_eff",
    "tbo_overlap_loss",
)

# Engine-level factors an engine profile may set (the rest stay per accelerator family).
ENGINE_FACTORS = ("step_overhead_s", "layer_overhead_s", "prefill_layer_overhead_s", "moe_expert_eff", "expert_load_cv",
                  "memory_bw_eff")

# Which tensor-core dtype runs the GEMMs for each weight format, in order of preference.  fp8 and int8
# are W8A8 where the hardware has the units (else weight-only, dequantized to bf16); int4 is weight-only
# (W4A16, AWQ/GPTQ kernels); fp4 runs on fp4 units where they exist (Blackwell), else fp8, else bf16.
GEMM_DTYPE_PREFERENCE = {
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", "bf16", "fp16"),
    "int8": ("int8", "bf16", "fp16"),
    "int4": ("bf16", "fp16"),
    "fp4": ("fp4", "fp8", "bf16", "fp16"),
    # llama.cpp GGUF block formats: weight-only, dequantized (or dotted in int8 against quantized
    # activations) with fp16 accumulation; the tensor-core rate is the fp16 one
    "q4_0": ("fp16", "bf16"),
    "q4_k_m": ("fp16", "bf16"),
    "q8_0": ("fp16", "bf16"),
}

# Bytes per weight of llama.cpp's GGUF formats, from the block layouts in ggml/src/ggml-common.h
# (https://github.com/ggml-org/llama.cpp, read 2026-12-06):
#   block_q4_0 = fp16 scale + 32 x 4 bits = 18 bytes per 32 weights  -> 0.5625
#   block_q8_0 = fp16 scale + 32 x int8   = 34 bytes per 32 weights  -> 1.0625
#   block_q4_K = 2 fp16 + 12 scale bytes + 128 = 144 bytes per 256   -> 0.5625
#   block_q6_K = 128 + 64 + 16 + fp16     = 210 bytes per 256        -> 0.8203
# Q4_K_M is a mix: llama.cpp's quantizer (src/llama-quant.cpp) stores attn_v and ffn_down as Q6_K in about
# half of the layers and output.weight as Q6_K, the rest Q4_K.  For a Llama-style layer attn_v + ffn_down are
# ~30% of the weights, so ~15% go to Q6_K: 0.5625 + 0.15 x (0.8203 - 0.5625) = 0.601, plus the output
# matrix (~2% of a 7B model) -> 0.606 (an assumption: the mix depends on the architecture).
GGUF_BYTES_PER_WEIGHT = {"q4_0": 18 / 32, "q8_0": 34 / 32, "q4_k_m": 0.606}


def weight_bytes(cat: Catalog, dtype: str) -> float:
    """Bytes per weight, including block-scale overhead for the 4-bit formats."""
    fixed = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}
    if dtype in fixed:
        return fixed[dtype]
    if dtype == "int4":
        return cat.const("int4_bytes_per_weight")
    if dtype == "fp4":
        return cat.const("fp4_bytes_per_weight")
    if dtype in GGUF_BYTES_PER_WEIGHT:
        return GGUF_BYTES_PER_WEIGHT[dtype]
    from inferonomics.errors import InputError

    raise InputError("weights", dtype, f"allowed precisions are {', '.join(WEIGHT_DTYPES)}")


def kv_bytes(dtype: str) -> float:
    table = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
    if dtype not in table:
        from inferonomics.errors import InputError

        raise InputError("kv", dtype, f"allowed KV-cache precisions are {', '.join(KV_DTYPES)}")
    return table[dtype]


def default_kv(weights: str) -> str:
    """The CLI contract: fp8 KV when weights are fp8 or fp4, else the weight precision (int -> bf16)."""
    if weights in ("fp8", "fp4"):
        return "fp8"
    if weights in ("bf16", "fp16"):
        return weights
    if weights in GGUF_BYTES_PER_WEIGHT:
        return "fp16"  # llama.cpp's default KV cache type (f16)
    return "bf16"


def gemm_dtype(acc: Accelerator, weights: str) -> str:
    for dt in GEMM_DTYPE_PREFERENCE[weights]:
        if dt in acc.peak_dense_tflops:
            return dt
    return "bf16"


def hw_columns(cat: Catalog, acc: Accelerator, weights: str, engine: str = "generic") -> dict[str, float]:
    """Kernel hardware columns of one accelerator at one weight precision, with the efficiency factors of
    its family and, for a named engine, that engine's profile (shared factors and a compute scale)."""
    eff = cat.efficiency_for(acc.family)
    scaleout = acc.scaleout_bw_gb_s.value if acc.scaleout_bw_gb_s else cat.const("scaleout_bw_gb_s")
    gemm = gemm_dtype(acc, weights)
    cols = {
        "peak_gemm_tflops": acc.peak_tflops(gemm),
        "peak_attn_tflops": acc.peak_tflops("bf16"),
        "memory_gib": acc.memory_gib.value,
        "memory_bw_gb_s": acc.memory_bw_gb_s.value,
        "scaleup_bw_gb_s": acc.scaleup_bw_gb_s.value,
        "scaleup_domain_gpus": acc.scaleup_domain_gpus.value,
        "scaleout_bw_gb_s": scaleout,
        "prefill_compute_eff": eff.prefill_compute_eff.value,
        "decode_compute_eff": eff.decode_compute_eff.value,
        "memory_bw_eff": eff.memory_bw_eff.value,
        "step_overhead_s": eff.step_overhead_s.value,
        "layer_overhead_s": eff.layer_overhead_s.value,
        "prefill_layer_overhead_s": eff.prefill_layer_overhead_s.value,
        "comm_latency_s": eff.comm_latency_s.value,
        "moe_expert_eff": eff.moe_expert_eff.value,
        "expert_load_cv": eff.expert_load_cv.value if eff.expert_load_cv else 0.0,
        "eplb_effectiveness": cat.const("eplb_effectiveness"),
        "scaleout_latency_s": cat.const("scaleout_latency_s"),
        "scaleout_bw_eff": cat.const("scaleout_bw_eff"),
        "tbo_overlap_loss": cat.const("tbo_overlap_loss"),
        # MoE dispatch travels in fp8 where the expert GEMMs run in fp8 or fp4 (DeepEP), else in bf16
        "dispatch_bytes": 1.0 if gemm in ("fp8", "fp4") else 2.0,
    }
    prof = cat.engine_profile(engine)
    if prof is not None:
        for name in ENGINE_FACTORS:
            v = getattr(prof, name)
            if v is not None:
                cols[name] = v.value
        for name in ("prefill_compute_eff", "decode_compute_eff"):
            cols[name] = min(cols[name] * prof.compute_eff_scale.value, 0.95)
    return cols
