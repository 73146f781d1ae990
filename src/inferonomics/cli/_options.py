"""Option types shared by the commands (one definition, so names never drift from the CLI contract)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Model = Annotated[str, typer.Option("--model", "-m", help="Model slug (see: inferonomics catalog list models).")]
Gpu = Annotated[str, typer.Option("--gpu", "-g", help="Accelerator slug (see: inferonomics catalog list accelerators).")]
Gpus = Annotated[int, typer.Option("--gpus", help="All GPUs of the deployment; the ones beyond one instance are replicas.")]
Tp = Annotated[Optional[int], typer.Option("--tp", help="Tensor-parallel degree (default: all GPUs / pp, or 1 with --ep).")]
Ep = Annotated[int, typer.Option("--ep", help="Expert-parallel degree, attention data-parallel across it (MoE only).")]
Pp = Annotated[int, typer.Option("--pp", help="Pipeline-parallel stages.")]
Weights = Annotated[str, typer.Option("--weights", help="Weight precision: bf16, fp16, fp8, int8, int4, fp4.")]
Kv = Annotated[Optional[str], typer.Option("--kv", help="KV-cache precision: bf16, fp16, fp8 (default: fp8 for fp8/fp4 weights, else the weight precision).")]
Isl = Annotated[int, typer.Option("--isl", help="Input (prompt) tokens per request.")]
Osl = Annotated[int, typer.Option("--osl", help="Output tokens per request.")]
Concurrency = Annotated[Optional[float], typer.Option("--concurrency", help="Requests in flight over the whole deployment.")]
MaxThroughput = Annotated[bool, typer.Option("--max-throughput", help="As many requests in flight as memory allows (offline benchmark).")]
Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]
Region = Annotated[str, typer.Option("--region", help="Region slug for electricity price and PUE.")]
Utilization = Annotated[Optional[float], typer.Option("--utilization", help="Fraction of hours the deployment serves (default: catalog constant).")]
Rent = Annotated[Optional[float], typer.Option("--rent-usd-per-gpu-hour", help="Rental price; default: the accelerator's catalog rental price.")]
Own = Annotated[bool, typer.Option("--own", help="Own the hardware: capex annuity, power x PUE, facility and operations.")]
LifeYears = Annotated[Optional[float], typer.Option("--life-years", help="Ownership: years over which capex is recovered.")]
CostOfCapital = Annotated[Optional[float], typer.Option("--cost-of-capital", help="Ownership: yearly cost of capital (0.08 = 8%).")]
Scheduler = Annotated[str, typer.Option("--scheduler", help="continuous (in-flight batching, default) or static (fixed batches, as offline latency benchmarks).")]
