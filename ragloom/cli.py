"""The `ragloom` command line: index, query, serve, validate, components.

stdout carries results only (with `--json`, exactly one JSON object); progress bars, logs and
errors go to stderr. Errors are printed as messages, never as tracebacks (RAGLOOM_DEBUG=1 shows
the traceback too).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ragloom.cli_support import ConfigOption, err, friendly_errors, quiet_libraries
from ragloom.errors import ConfigError, RagloomError
from ragloom.structure import location_label

app = typer.Typer(
    name="ragloom",
    help="RAG pipelines as typed DAGs: index documents, ask questions, validate pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

IndexDirOption = Annotated[
    Path | None,
    typer.Option("--index-dir", help="Index directory (default: the config's, else ./.ragloom)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Run the pipelines in-process (local) or on Ray (ray); overrides the config's "
        "`executor:` type.",
    ),
]


@app.command()
def index(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (.txt, .md, .pdf, .html, .docx, .jsonl, BEIR)."),
    ],
    config: ConfigOption = None,
    index_dir: IndexDirOption = None,
    executor: ExecutorOption = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete indexed documents this run did not see (removed files, and "
            "documents under paths not given this time).",
        ),
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Documents written and committed per batch (default: 128, doubling while a "
            "batch takes under half a second; with --executor ray the config's "
            "executor.indexing.write_batch_size).",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another run is writing this index, wait for it instead of stopping.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build or update the index from PATHS: unchanged documents are skipped, changed ones
    replaced; an interrupted run resumes where it stopped."""
    from ragloom.rag import RAG

    quiet_libraries()
    with friendly_errors():
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise RagloomError(f"no such file or folder: {', '.join(missing)}")
        rag = RAG.from_file(config, index_dir, executor)
        report = rag.index(list(paths), prune=prune, batch_size=batch_size, wait=wait)
        if as_json:
            typer.echo(json.dumps(report.to_dict()))
            return
        stored = ", ".join(f"{k}: {v}" for k, v in report.stored.items())
        typer.echo(
            f"indexed {report.documents} document(s) into {rag.index_dir} ({stored} chunks stored)"
        )
        typer.echo(report.summary())
        for line in report.failed:
            typer.echo(f"failed {line}")


@app.command()
def query(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    config: ConfigOption = None,
    index_dir: IndexDirOption = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", help="Number of passages to return.")
    ] = None,
    filter_text: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="Only passages whose metadata passes this JSON filter, e.g. "
            '\'{"team": "red"}\' or \'{"year": {"$gte": 2020}}\' (operators: $eq $ne $gt $gte '
            "$lt $lte $in $nin $and $or $not; see the README).",
        ),
    ] = None,
    executor: ExecutorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer QUESTION from the index, citing the passages used."""
    from ragloom.filters import parse_filter
    from ragloom.rag import RAG

    quiet_libraries()
    with friendly_errors():
        filters = _json_option("--filter", filter_text)
        parse_filter(filters)  # a bad filter fails before any model loads
        rag = RAG.from_file(config, index_dir, executor)
        if as_json:
            result = rag.query(question, top_k=top_k, filters=filters)
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
            return
        streamed = False
        for item in rag.stream(question, top_k=top_k, filters=filters):
            if isinstance(item, str):
                if not streamed:
                    typer.echo("Answer: ", nl=False)
                    streamed = True
                typer.echo(item, nl=False)
            else:
                result = item
        _print_result(result, streamed)


def _json_option(option: str, text: str | None) -> Any:
    """The JSON value an option holds (None if not given); one line saying where it breaks."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RagloomError(f"{option}: not valid JSON ({exc}): {text}") from None


def _print_result(result: Any, streamed: bool) -> None:
    """The answer (unless already streamed), its generator, and the numbered passages."""
    answer = result.answer
    if answer is not None:
        if streamed:
            typer.echo(f"\n({answer.generator})")
        else:
            label = f" ({answer.generator})" if answer.generator else ""
            typer.echo(f"Answer{label}: {answer.text}")
        if answer.citations_inferred:
            typer.echo("(the model wrote no [n]; * marks the passage its words come from)")
        typer.echo("")
    for n, hit in enumerate(result.passages, start=1):
        mark = "*" if answer is not None and n in answer.cited else " "
        snippet = " ".join(hit.chunk.text.split())
        snippet = snippet if len(snippet) <= 160 else snippet[:157] + "..."
        chunk = hit.chunk
        where = location_label(chunk.metadata)  # p. 3, "2.1 Results"
        source = f"{chunk.doc_id} {where}" if where else chunk.doc_id
        typer.echo(f"{mark}[{n}] {hit.score:.4f}  {source} [{chunk.start}:{chunk.end}]")
        typer.echo(f"     {snippet}")


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="A RAG configuration or pipeline YAML.")],
) -> None:
    """Check a configuration without loading any model; exit 0 when valid."""
    from ragloom.config import validate_file

    with friendly_errors(exit_code=2):
        try:
            kind = validate_file(config)
        except RagloomError as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            err(f"{config}: {len(problems)} problem(s)")
            for problem in problems:
                err(f"  {problem}")
            raise typer.Exit(2) from None
        typer.echo(f"{config}: valid {kind}")


@app.command()
def components(as_json: JsonOption = False) -> None:
    """List the registered component types, their inputs, outputs and parameters."""
    from ragloom.pipeline.sockets import type_repr
    from ragloom.registry import registered_types

    with friendly_errors():
        listing: dict[str, Any] = {}
        for name, cls in registered_types().items():
            params = {}
            for pname, (tp, default) in cls.init_parameter_specs().items():
                params[pname] = {
                    "type": type_repr(tp),
                    "default": None if default is inspect.Parameter.empty else default,
                    "required": default is inspect.Parameter.empty,
                }
            listing[name] = {
                "summary": (inspect.getdoc(cls) or "").splitlines()[0] if cls.__doc__ else "",
                "inputs": {s.name: type_repr(s.type) for s in cls.input_sockets().values()},
                "outputs": {s.name: type_repr(s.type) for s in cls.output_sockets().values()},
                "parameters": params,
            }
        if as_json:
            typer.echo(json.dumps(listing, default=str))
            return
        for name, info in listing.items():
            typer.echo(f"{name}: {info['summary']}")
            typer.echo(f"  inputs:  {', '.join(f'{k}: {v}' for k, v in info['inputs'].items())}")
            typer.echo(f"  outputs: {', '.join(f'{k}: {v}' for k, v in info['outputs'].items())}")
            for pname, p in info["parameters"].items():
                default = "required" if p["required"] else f"default {p['default']!r}"
                typer.echo(f"  - {pname}: {p['type']} ({default})")


@app.command()
def serve(
    config: ConfigOption = None,
    index_dir: IndexDirOption = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind (default 127.0.0.1: this machine only)."),
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    executor: ExecutorOption = None,
    api_keys_file: Annotated[
        Path | None,
        typer.Option(
            "--api-keys-file",
            help="Accept only bearer tokens listed in this file (one a line); keys in "
            "$RAGLOOM_API_KEYS (comma-separated) are accepted too. Neither: no key needed.",
        ),
    ] = None,
    model_name: Annotated[
        str | None,
        typer.Option("--model-name", help="Model id clients send (default ragloom)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Threads running pipelines (default 4)."),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            help="Server processes on the port (default 1). More use more cores; they only "
            "read the index: add documents with `ragloom index`.",
        ),
    ] = None,
    max_in_flight: Annotated[
        int | None,
        typer.Option("--max-in-flight", min=1, help="Requests at once; beyond, 429 (default 64)."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, help="Seconds per request before 504 (default 60)."),
    ] = None,
) -> None:
    """Serve the RAG pipelines over HTTP: OpenAI-compatible /v1/chat/completions (answers
    with citations), /v1/query, /v1/retrieve, /v1/documents, /healthz, /readyz, /metrics and
    the API docs at /docs. Settings may also sit in the config's `serve:` block; flags win.
    With --executor ray (or `serve: {executor: ray}`, or a ray `executor:` block) the app runs
    on Ray Serve: an ingress plus one deployment per heavy stage (`serve: ray:` settings).
    SIGTERM lets requests in flight finish."""
    from ragloom.rag import RAG
    from ragloom.server.run import serve as run_server
    from ragloom.server.run import settings_for

    quiet_libraries()
    with friendly_errors():
        overrides = {
            "host": host,
            "port": port,
            "api_keys_file": api_keys_file,
            "model_name": model_name,
            "workers": workers,
            "processes": processes,
            "max_in_flight": max_in_flight,
            "request_timeout_s": timeout,
        }
        settings = settings_for(config, overrides)
        rag = RAG.from_file(config, index_dir, executor or settings.executor)
        on_ray = rag.config.query.executor.get("type") == "ray"
        if settings.processes > 1 and on_ray:
            raise ConfigError(
                "--processes is for the local executor; on Ray Serve, scale with replicas "
                "(`serve: ray:` settings)"
            )
        if on_ray:
            from ragloom.server.ray_serve import serve_on_ray

            serve_on_ray(rag, settings)
        elif settings.processes > 1:
            from ragloom.server.processes import serve_processes

            status = serve_processes(config, index_dir, settings)
            if status:
                raise typer.Exit(status)
        else:
            run_server(rag, settings)


from ragloom.evaluation.command import eval_command  # noqa: E402

app.command("eval")(eval_command)

from ragloom.rerank.command import train_reranker_command  # noqa: E402

app.command("train-reranker")(train_reranker_command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
