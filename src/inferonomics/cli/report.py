"""``inferonomics report``: the self-contained HTML report (the README's main job)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    register_app(app)

    @app.command()
    def report(
        scenarios: Annotated[
            list[str] | None, typer.Argument(help="Provider scenarios (built-in names or YAML paths).")
        ] = None,
        workload: Annotated[
            list[str] | None, typer.Option("--workload", "-w", help="Buyer workloads (names or YAML paths).")
        ] = None,
        out: Annotated[str, typer.Option("--out", "-o", help="Directory for index.html and the PNG charts.")] = "report",
        region: Annotated[str, typer.Option("--region", help="Region for power price and PUE.")] = "us-average",
        json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Write the self-contained HTML report (opens offline) plus every chart as a PNG."""
        import sys
        import time

        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from inferonomics.catalog import get_catalog
        from inferonomics.cli._render import print_json
        from inferonomics.io import check_output_dir
        from inferonomics.report import build_report

        check_output_dir(out, "--out")
        get_catalog().region(region, "--region")

        t0 = time.perf_counter()
        err = Console(stderr=True)
        show = not json_out and sys.stderr.isatty()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      disable=not show, transient=True) as prog:
            task = prog.add_task("report", total=None)
            res = build_report(out, scenarios=scenarios or None, workloads=workload or None, region=region,
                               progress=lambda name: prog.update(task, description=f"report: {name}"))
        elapsed = time.perf_counter() - t0
        if json_out:
            print_json({"html": str(res.html_path), "pngs": [str(p) for p in res.png_paths],
                        "sections": res.sections, "headlines": res.headlines, "seconds": elapsed})
            return
        con = Console()
        con.print(f"[bold]Report written:[/] {res.html_path.resolve()}  ({len(res.png_paths)} charts as PNG beside "
                  f"it, {elapsed:.1f} s)")
        con.print("Sections: " + ", ".join(res.sections))
        for k, v in res.headlines.items():
            con.print(f"  [cyan]{k}[/]: {v}")


def register_app(app: typer.Typer) -> None:
    """``inferonomics app``: the interactive dashboard (Streamlit), served on this machine."""

    @app.command("app")
    def app_command(
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port to serve on.")] = 8501,
        host: Annotated[str, typer.Option("--host", help="Address to listen on (default: this machine only).")]
        = "127.0.0.1",
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command that serves the dashboard; "
                                              "start nothing.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the launch details as one JSON object.")]
        = False,
    ) -> None:
        """Start the interactive dashboard (cost, provider scenario, buyer break-even, price history)."""
        import importlib.util
        import os
        import subprocess
        import sys

        from inferonomics.app import DASHBOARD_PATH, streamlit_command
        from inferonomics.errors import InferonomicsError

        cmd = streamlit_command(port=port, host=host)
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        info = {"url": url, "host": host, "port": port, "script": str(DASHBOARD_PATH), "command": cmd}
        if json_out:
            from inferonomics.cli._render import print_json

            print_json(info)
        elif dry_run:
            print(" ".join(cmd))
        if dry_run:
            return
        if importlib.util.find_spec("streamlit") is None:
            raise InferonomicsError(
                "the dashboard needs Streamlit, which is not installed; install it with: "
                "pip install 'inferonomics[app]'"
            )
        if not json_out:
            print(f"inferonomics dashboard: {url}  (Ctrl+C stops it)", flush=True)
        sys.stdout.flush()
        sys.stderr.flush()
        if os.name == "posix":  # become the server: signals (Ctrl+C, SIGTERM) reach Streamlit directly
            os.execv(cmd[0], cmd)
        try:  # pragma: no cover - non-POSIX
            raise typer.Exit(subprocess.call(cmd))
        except KeyboardInterrupt:  # pragma: no cover
            raise typer.Exit(130) from None
