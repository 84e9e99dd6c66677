"""`llmops`: bring the local stack up and down, inspect it, and run the flows."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from llmops.errors import LLMOpsError
from llmops.settings import Settings, load_settings

app = typer.Typer(
    help="Run the LLM lifecycle on Prefect, MLflow, lakeFS and Milvus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="Settings profile: local (default), production, or a .env file path."),
]


def _settings(profile: str | None) -> Settings:
    return load_settings(profile)


def _echo(line: str) -> None:
    typer.echo(line)


def print_urls(settings: Settings) -> None:
    typer.echo(f"Prefect UI:  {settings.prefect.base_url}")
    typer.echo(f"MLflow UI:   {settings.mlflow.base_url}")
    typer.echo(f"lakeFS API:  {settings.lakefs.api_url}")
    typer.echo(f"Milvus:      {settings.milvus.base_url}")
    from llmops.settings import load_serve_settings

    serve = load_serve_settings()
    if serve.managed:
        typer.echo(f"OpenAI API:  {serve.api_url} (model {serve.model}; `llmops ask QUESTION`)")


@app.command()
def up(profile: ProfileOption = None) -> None:
    """Start the local stack (idempotent) and wait until every service is healthy."""
    from infra import local_stack

    settings = _settings(profile)
    typer.echo(f"Starting the local stack in {settings.storage.state_dir}")
    started = local_stack.up(settings, echo=_echo)
    typer.echo("Stack is up." if started else "Stack was already up; nothing started.")
    print_urls(settings)
    typer.echo(f"Credentials: {settings.storage.state_dir}/<service>/credentials.json (owner only; see SECURITY.md)")


@app.command()
def down(profile: ProfileOption = None) -> None:
    """Stop the processes `llmops up` started."""
    from infra import local_stack

    settings = _settings(profile)
    stopped = local_stack.down(settings, echo=_echo)
    typer.echo(f"Stopped {len(stopped)} process(es)." if stopped else "Nothing of ours was running.")


@app.command()
def status(profile: ProfileOption = None) -> None:
    """Show each service, its URL and health; exit 1 if any is unhealthy."""
    from infra import local_stack

    settings = _settings(profile)
    rows = local_stack.status(settings)
    typer.echo(f"{'service':<10} {'state':<12} {'health':<8} {'pid':<8} url")
    for row in rows:
        health = "ok" if row.healthy else "-"
        typer.echo(
            f"{row.name:<10} {row.state:<12} {health:<8} {row.pid or '':<8} {row.url}"
            + (f"  ({row.note})" if row.note else "")
        )
    exposed = local_stack.state_dir_problems(settings)
    if exposed:
        typer.echo(
            f"state directory {settings.storage.state_dir}: readable by other users (fix: llmops up or chmod -R go-rwx)"
        )
        for line in exposed:
            typer.echo(f"  {line}")
    else:
        typer.echo(f"state directory {settings.storage.state_dir}: private (owner only)")
    if any(not r.healthy and r.state != "unavailable" for r in rows) or exposed:
        raise typer.Exit(1)


@app.command()
def config(profile: ProfileOption = None) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    typer.echo(json.dumps(_settings(profile).redacted(), indent=2))


@app.command()
def smoke(profile: ProfileOption = None) -> None:
    """Run the smoke flow: one Prefect flow run touching MLflow and Milvus."""
    from llmops.clients import use_stack

    settings = _settings(profile)
    use_stack(settings)
    from flows.smoke import smoke_flow

    report = smoke_flow()
    typer.echo(f"Smoke flow finished: MLflow run {report.mlflow_run_id}, Milvus hit {report.milvus_hit_id}")
    print_urls(settings)


@app.command()
def deploy(profile: ProfileOption = None) -> None:
    """Register the deployments of prefect.yaml (the lifecycle and each stage) with Prefect."""
    from infra import local_stack
    from llmops.settings import find_project_root

    settings = _settings(profile)
    local_stack.deploy(settings, find_project_root())
    typer.echo(f"Deployments registered: {settings.prefect.base_url}/deployments")


@app.command()
def run(
    deployment: Annotated[str, typer.Argument(help="Deployment name in prefect.yaml, e.g. lifecycle.")] = "lifecycle",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=JSON parameter override.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run to finish.")] = 3600,
    param_profile: Annotated[
        str | None,
        typer.Option("--param-profile", help="Parameters from deployments/profiles/NAME.yaml (--param wins)."),
    ] = None,
    raw: Annotated[
        str | None, typer.Option("--raw", help="The `raw` parameter by its ingest commit (what `run ingest` printed).")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", help="The `dataset` parameter by its commit or data-... tag (what `run prepare` printed)."
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Start a deployment through the worker, follow it to the end, print its outcome and links.

    Each stage prints the reference the next one takes: `llmops run ingest` a raw commit for
    `llmops run prepare --raw COMMIT`, which prints a dataset for `--dataset COMMIT` of index, train
    and pretrain."""
    from llmops.clients import lakefs_client, use_stack
    from llmops.runs import run_deployment_and_wait

    settings = _settings(profile)
    use_stack(settings)
    parameters = _with_profile(param_profile, _parse_params(param or []))
    if raw is not None:
        from tasks.ingest import raw_ref_at

        parameters["raw"] = raw_ref_at(lakefs_client(settings), settings.lakefs.repository, raw).model_dump(mode="json")
    if dataset is not None:
        from tasks.prepare import dataset_ref_at

        found = dataset_ref_at(lakefs_client(settings), settings.lakefs.repository, dataset)
        parameters["dataset"] = found.model_dump(mode="json")
    outcome = run_deployment_and_wait(settings, deployment, parameters, timeout, progress=typer.echo)
    typer.echo(outcome.summary())
    if not outcome.ok:
        raise typer.Exit(1)


def _with_profile(name: str | None, overrides: dict[str, object]) -> dict[str, object]:
    """A parameter profile's values with `--param` overrides on top (field by field for config dicts)."""
    if name is None:
        return overrides
    from deployments.profiles import load_profile

    merged: dict[str, object] = dict(load_profile(name))
    for key, value in overrides.items():
        base = merged.get(key)
        merged[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
    return merged


def _parse_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise LLMOpsError(f"--param {item!r}: use KEY=JSON, e.g. --param finetune='{{\"max_steps\": 50}}'")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value  # a bare string
    return params


@app.command()
def promote(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version number to make champion.")],
    force: Annotated[bool, typer.Option("--force", help="Promote even if the version did not pass the gate.")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (recorded as a tag); required with --force.")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Move the `champion` alias to MODEL VERSION; the old champion becomes `previous`."""
    from llmops.clients import mlflow_client
    from tasks.release import promote_by_hand

    move = promote_by_hand(mlflow_client(_settings(profile)), model, version, force=force, reason=reason)
    typer.echo(f"{model}: champion -> {move.champion} (previous: {move.previous or 'none'})")


@app.command()
def rollback(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Go back to this earlier champion (default: the one before).")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in the alias history).")] = None,
    profile: ProfileOption = None,
) -> None:
    """Move `champion` back to the champion before it, or to any earlier champion with --to."""
    from llmops.clients import mlflow_client
    from tasks import release

    client = mlflow_client(_settings(profile))
    try:
        if to is None:
            move = release.rollback(client, model, reason=reason or "")
        else:
            move = release.rollback_to(client, model, to, reason=reason or "")
    except ValueError as exc:
        raise LLMOpsError(str(exc)) from None
    typer.echo(f"{model}: champion -> {move.champion} (previous: {move.previous or 'none'})")


@app.command()
def approve(
    flow_run: Annotated[str, typer.Argument(help="The lifecycle run waiting for approval (name or id).")],
    approver: Annotated[str, typer.Option("--approver", help="Your name, recorded in the history.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, recorded on the model version.")],
    reject: Annotated[bool, typer.Option("--reject", help="Keep the champion instead.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Answer a lifecycle run's approval form (what the Prefect UI's form does): release the candidate, or not."""
    from llmops.clients import use_stack
    from llmops.runs import resume_with_input

    settings = _settings(profile)
    use_stack(settings)
    decision = "reject" if reject else "approve"
    run = resume_with_input(flow_run, {"decision": decision, "reason": reason, "approver": approver})
    answer = "rejected" if reject else "approved"
    typer.echo(f"{run.name}: {answer}; the run goes on: {settings.prefect.base_url}/runs/flow-run/{run.id}")


@app.command()
def history(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per move.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Every move of the model's aliases, oldest first: when, what kind, alias, from -> to, who, why."""
    from llmops.clients import mlflow_client
    from tasks import release

    events = release.alias_history(mlflow_client(_settings(profile)), model)
    if not events:
        typer.echo(f"{model}: no alias moves recorded")
        return
    for event in events:
        if as_json:
            typer.echo(event.model_dump_json())
            continue
        typer.echo(
            f"{event.at:%Y-%m-%d %H:%M:%S}Z  {event.kind:<12} {event.alias:<10} "
            f"{event.from_version or '-':>4} -> {event.to_version or '-':<4}  {event.who}  {event.why}"
        )


def _answerer(settings: Settings, model: str, alias: str, top_k: int | None, workdir: str):
    from pathlib import Path

    from llmops.clients import milvus_client, mlflow_client
    from tasks.serve import Answerer
    from tasks.services.embedding import embed

    return Answerer(mlflow_client(settings), milvus_client(settings), model, alias, embed, Path(workdir), top_k=top_k)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default LLMOPS_SERVE_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default LLMOPS_SERVE_PORT, 8080).")] = None,
    profile: ProfileOption = None,
) -> None:
    """Serve the champion as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models).

    Follows the `champion` and serving aliases without a restart, caches responses, and logs every
    request, redacted, to lakeFS in batches."""
    import tempfile
    from pathlib import Path

    import uvicorn

    from llmops.clients import lakefs_client, milvus_client, mlflow_client
    from llmops.settings import load_serve_settings
    from tasks.serve import Champion, RequestLog, create_app, open_cache, workdir_loader
    from tasks.services.embedding import embed

    settings = _settings(profile)
    config = load_serve_settings(profile)
    if config.api_key is None:
        raise LLMOpsError(
            "no API key for the serving endpoint: set LLMOPS_SERVE_API_KEY (production), or run `llmops up` once "
            "(it generates one in the state directory)"
        )
    mlflow, milvus = mlflow_client(settings), milvus_client(settings)
    requests = RequestLog(
        lakefs_client(settings), settings.lakefs.repository, config.log_batch, config.log_flush_s, typer.echo
    )
    workdir = Path(tempfile.mkdtemp(prefix="llmops-serve-"))
    champion = Champion(
        mlflow,
        milvus,
        config.model,
        config.index_alias,
        workdir_loader(mlflow, milvus, config.model, config.index_alias, embed, workdir, config.max_tokens),
        refresh_s=config.refresh_s,
        log=typer.echo,
    )
    app_ = create_app(
        champion,
        open_cache(config.cache_url, config.cache_ttl_s, config.cache_entries),
        config.api_key.get_secret_value(),
        record=requests.add,
        default_max_tokens=config.max_tokens,
        on_shutdown=requests.close,
    )
    host, port = host or config.host, port or config.port
    typer.echo(f"serving {config.model} (champion) at http://{host}:{port}/v1; cache {config.cache_url}")
    uvicorn.run(app_, host=host, port=port, log_level="info", access_log=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    top_k: Annotated[int | None, typer.Option(help="Sources listed (default: as many as the model was given).")] = None,
    profile: ProfileOption = None,
) -> None:
    """Ask the serving endpoint (`llmops serve`): the champion answers from the retrieved passages; prints the sources.

    The endpoint logs the request, redacted, to lakeFS."""
    import httpx

    from llmops.settings import load_serve_settings

    config = load_serve_settings(profile)
    key = config.api_key.get_secret_value() if config.api_key else ""
    body = {"model": config.model, "messages": [{"role": "user", "content": question}], "top_k": top_k}
    try:
        response = httpx.post(
            f"{config.api_url}/chat/completions",
            json={k: v for k, v in body.items() if v is not None},
            headers={"Authorization": f"Bearer {key}"},
            timeout=300,
        )
    except httpx.TransportError as exc:
        raise LLMOpsError(
            f"no serving endpoint at {config.api_url} ({exc}): start it with `llmops serve` (or set LLMOPS_SERVE_URL)"
        ) from None
    if response.status_code != 200:
        raise LLMOpsError(f"{config.api_url}: {response.status_code} {_error_message(response)}")
    reply = response.json()
    typer.echo(reply["choices"][0]["message"]["content"] or "(empty answer)")
    typer.echo(
        "Sources: " + "; ".join(f"[{s['n']}] {s['title'] or s['doc_id']} ({s['score']:.2f})" for s in reply["sources"])
    )
    extra = reply["llmops"]
    typer.echo(
        f"-- {reply['model']} v{extra['model_version']}, index {extra['collection']}, {extra['latency_ms']:.0f} ms"
        + (" (cached)" if extra["cached"] else "")
    )


def _error_message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def _questions_file(path: str) -> list[str]:
    from pathlib import Path

    from tasks.monitor import read_questions

    file = Path(path)
    if not file.is_file():
        raise LLMOpsError(f"{path}: no such file")
    return read_questions(file.read_text(encoding="utf-8"), path)


@app.command()
def replay(
    n: Annotated[int, typer.Option(help="How many questions to ask.")] = 40,
    file: Annotated[
        str | None,
        typer.Option("--file", help="Ask these questions (one per line, or JSON lines with 'question') instead."),
    ] = None,
    model: Annotated[str, typer.Option(help="Registered model.")] = "llmops-assistant",
    alias: Annotated[str, typer.Option(help="Milvus serving alias.")] = "llmops_docs",
    batch: Annotated[int, typer.Option(help="Questions answered and logged together.")] = 32,
    profile: ProfileOption = None,
) -> None:
    """Ask questions through `ask` and log them, as traffic would: the champion's held-out eval questions, or
    the first N of a file."""
    import tempfile

    from llmops.clients import lakefs_client, mlflow_client
    from tasks.serve import held_out_questions, log_requests

    settings = _settings(profile)
    lk = lakefs_client(settings)
    if file is not None:
        questions, what = _questions_file(file)[:n], f"questions from {file}"
    else:
        questions, what = held_out_questions(lk, mlflow_client(settings), model, n, seed=None), "held-out questions"
    commit = None
    with tempfile.TemporaryDirectory(prefix="llmops-replay-") as workdir:
        answerer = _answerer(settings, model, alias, None, workdir)
        for start in range(0, len(questions), max(batch, 1)):
            results = answerer.ask(questions[start : start + max(batch, 1)])
            commit = log_requests(lk, settings.lakefs.repository, results) or commit
            typer.echo(f"  {start + len(results)}/{len(questions)} answered and logged")
    typer.echo(
        f"Replayed {len(questions)} {what}; inference log commit {commit[:12] if commit else '-'} on branch logs"
    )


drift_app = typer.Typer(help="The drift check's reference.", no_args_is_help=True)
app.add_typer(drift_app, name="drift")


@drift_app.command("reference")
def drift_reference(
    file: Annotated[str, typer.Argument(help="Reference questions: one per line, or JSON lines with 'question'.")],
    model: Annotated[str, typer.Option(help="Registered model; the reference is recorded on its champion.")] = (
        "llmops-assistant"
    ),
    profile: ProfileOption = None,
) -> None:
    """Designate the champion's drift reference: the questions its later traffic is compared with.

    Replaces the reference collected from traffic, if any. Use it when the traffic right after a release is
    not representative, or to start checking without waiting for `reference_requests` requests."""
    from llmops.clients import lakefs_client, mlflow_client
    from tasks.monitor import designated_rows, record_reference
    from tasks.services.mlflow import CHAMPION

    settings = _settings(profile)
    mlflow = mlflow_client(settings)
    champion = mlflow.get_model_version_by_alias(model, CHAMPION)
    rows = designated_rows(_questions_file(file))
    reference = record_reference(
        lakefs_client(settings), mlflow, settings.lakefs.repository, model, champion.version, rows, "designated"
    )
    typer.echo(
        f"{model} v{champion.version}: drift reference = {reference.requests} designated questions, "
        f"lakeFS {settings.lakefs.repository}@{reference.lakefs_commit[:12]}:{reference.path}"
    )


index_app = typer.Typer(help="The Milvus retrieval index.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("rollback")
def index_rollback(
    alias: Annotated[str, typer.Option("--alias", help="Serving alias.")] = "llmops_docs",
    profile: ProfileOption = None,
) -> None:
    """Point the serving alias back at the collection the current one replaced."""
    from llmops.clients import milvus_client
    from tasks import index

    try:
        current, previous = index.rollback(milvus_client(_settings(profile)), alias)
    except ValueError as exc:
        raise LLMOpsError(str(exc)) from None
    typer.echo(f"{alias}: {current} -> {previous}")


def main() -> None:
    """Console entry point: llmops' own errors print as one clear message and exit 1."""
    os.umask(0o077)  # what any command writes (state, logs, checkpoints) is the owner's only
    try:
        app()
    except LLMOpsError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
