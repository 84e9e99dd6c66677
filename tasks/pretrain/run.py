"""The pretrain stage's plain entry point: a dataset's corpus → the embedded default base model in MLflow.

Content-addressed: the key is the corpus's digest (the lakeFS checksums of its files at the dataset
commit) and the recipe hash, recorded as tags on the registered version of `llmops-base`. The same
corpus and recipe give the same version, with no training; a crash resumes from the checkpoints in
`<state>/checkpoints/pretrain-<corpus>-<recipe>/`. No Prefect here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import lakefs
from lakefs.client import Client
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from tasks.prepare import DatasetRef, read_split
from tasks.pretrain.config import PretrainConfig
from tasks.pretrain.data import document_texts, documents, heldout_ids, split_heldout
from tasks.pretrain.loop import PretrainResult, pretrain
from tasks.services import mlflow as tracking

BASE_MODEL_NAME = "llmops-base"
EXPERIMENT = "llmops-pretrain"
ARTIFACT = "model"


class BaseModelRef(BaseModel):
    """A registered version of the pretrained base model."""

    model_name: str
    version: str
    run_id: str
    corpus_digest: str
    recipe_hash: str
    heldout_perplexity: float | None = None
    initial_heldout_perplexity: float | None = None
    tokens_per_s: float | None = None
    train_seconds: float | None = None
    reused: bool = False

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def corpus_digest(client: Client, dataset: DatasetRef, excluded: Iterable[str] = ()) -> str:
    """sha256 over the corpus files' paths and lakeFS checksums at the dataset's commit (its content, not
    its commit) and the ids of the documents `excluded` from the reading exercises."""
    digest = hashlib.sha256()
    ref = lakefs.Reference(dataset.repository, dataset.commit, client=client)
    for path in sorted(dataset.corpus):
        digest.update(f"{path}\x00{ref.object(path).stat().checksum}\x00".encode())
    for doc_id in sorted(excluded):
        digest.update(f"excluded\x00{doc_id}\x00".encode())
    return digest.hexdigest()


def eval_documents(client: Client, dataset: DatasetRef) -> set[str]:
    """The ids of the documents the eval split's pairs were derived from (kept out of the reading exercises)."""
    if not dataset.eval:
        return set()
    frame = read_split(client, dataset, dataset.eval)
    if "meta" not in frame.columns:
        return set()
    out = set()
    for meta in frame["meta"].dropna():
        try:
            source = json.loads(meta).get("derived_from")
        except (TypeError, ValueError, AttributeError):
            continue
        if source:
            out.add(str(source))
    return out


def find_base(mlflow: Any, digest: str, config: PretrainConfig, model_name: str = BASE_MODEL_NAME) -> Any | None:
    """The version already pretrained on this corpus with this recipe, if any."""
    try:
        versions = mlflow.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return None
    for version in versions:
        tags = version.tags or {}
        if tags.get("llmops.corpus_digest") == digest and tags.get("llmops.recipe_hash") == config.recipe_hash():
            return version
    return None


def _ref(version: Any, mlflow: Any, reused: bool) -> BaseModelRef:
    metrics = mlflow.get_run(version.run_id).data.metrics
    return BaseModelRef(
        model_name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        corpus_digest=version.tags["llmops.corpus_digest"],
        recipe_hash=version.tags["llmops.recipe_hash"],
        heldout_perplexity=metrics.get("heldout_perplexity"),
        initial_heldout_perplexity=metrics.get("initial_heldout_perplexity"),
        tokens_per_s=metrics.get("train_tokens_per_s"),
        train_seconds=metrics.get("train_seconds"),
        reused=reused,
    )


def pretrain_and_register(
    lakefs_client: Client,
    mlflow: Any,
    dataset: DatasetRef,
    config: PretrainConfig,
    *,
    state_dir: Path,
    flow_run: dict[str, str],
    log: Any = print,
    progress: Callable[[float, float, str], None] | None = None,
    stop_after_steps: int | None = None,
) -> BaseModelRef:
    """Pretrain the base model on the dataset's corpus (resuming a crashed run) and register it."""
    kept = eval_documents(lakefs_client, dataset) if config.exercise_fraction else set()
    digest = corpus_digest(lakefs_client, dataset, kept)
    existing = find_base(mlflow, digest, config)
    if existing is not None:
        log(f"reusing {BASE_MODEL_NAME} v{existing.version}: same corpus and recipe")
        return _ref(existing, mlflow, reused=True)

    corpus = read_split(lakefs_client, dataset, dataset.corpus)
    rows = corpus.to_dict("records")
    docs = document_texts(rows)
    train_texts, heldout_texts = split_heldout(docs, config.heldout_fraction, config.seed)
    # Reading exercises: from the training documents, never from a held-out one or one that gave eval pairs.
    held_out = heldout_ids([doc_id for doc_id, _ in docs], config.heldout_fraction, config.seed)
    readable = documents(rows)
    exercise_docs = [d for d in readable if d.id not in held_out and d.id not in kept]
    heldout_exercise_docs = [d for d in readable if d.id in held_out]
    output_dir = state_dir / "checkpoints" / f"pretrain-{digest[:16]}-{config.recipe_hash()[:16]}"
    output_dir.mkdir(parents=True, exist_ok=True)
    tags = {
        "llmops.lakefs_repository": dataset.repository,
        "llmops.lakefs_commit": dataset.commit,
        "llmops.corpus_paths": json.dumps(dataset.corpus)[:4000],
        "llmops.corpus_digest": digest,
        "llmops.recipe_hash": config.recipe_hash(),
        "llmops.git_revision": tracking.git_revision(),
        "llmops.documents": str(len(docs)),
        "llmops.heldout_documents": str(len(heldout_texts)),
        **flow_run,
    }
    marker = output_dir / "mlflow_run.json"
    if marker.is_file():  # resuming after a crash: keep logging into the same run
        run_id = json.loads(marker.read_text())["run_id"]
        log(f"resuming MLflow run {run_id}")
    else:
        run_id = tracking.start_run(
            mlflow, EXPERIMENT, config.model_dump(mode="json"), tags, run_name=f"pretrain-{dataset.commit[:8]}"
        )
        marker.write_text(json.dumps({"run_id": run_id}))
        tracking.log_dataset(run_id, corpus, dataset.uri(dataset.corpus[0]), "corpus", "pretraining")

    buffer = tracking.MetricBuffer(mlflow, run_id)

    def on_metrics(metrics: dict[str, float]) -> None:
        step = int(metrics.get("step", 0))
        buffer.add({k: float(v) for k, v in metrics.items() if k != "step"}, step)
        if "loss" in metrics:
            line = f"pretrain step {step}/{config.max_steps}: loss {metrics['loss']:.3f}"
            log(f"{line}, {metrics['tokens_per_s']:,.0f} tokens/s, eta {metrics['eta_s']:.0f}s")
            if progress is not None:
                progress(step, config.max_steps, line)
        if "heldout_perplexity" in metrics:
            copy = metrics.get("heldout_copy_accuracy")
            log(
                f"pretrain step {step}: held-out perplexity {metrics['heldout_perplexity']:.1f}"
                + ("" if copy is None else f", copy accuracy {copy:.3f}")
            )

    result: PretrainResult = pretrain(
        config,
        train_texts,
        heldout_texts,
        output_dir,
        corpus_digest=digest,
        exercise_docs=exercise_docs,
        heldout_exercise_docs=heldout_exercise_docs,
        on_metrics=on_metrics,
        stop_after_steps=stop_after_steps,
    )
    buffer.flush()
    if not result.completed or result.model_dir is None:
        raise RuntimeError(f"pretraining stopped at step {result.steps} of {config.max_steps}")
    summary = {
        "heldout_perplexity": result.heldout_perplexity,
        "initial_heldout_perplexity": result.initial_heldout_perplexity,
        "train_tokens_per_s": result.tokens_per_s,
        "train_tokens": float(result.train_tokens),
        "parameters": float(result.parameters),
        "heldout_tokens": float(result.heldout_tokens),
        "flops_per_token": result.flops_per_token,
        "train_seconds": result.curve[-1].seconds,
    }
    buffer.add({k: float(v) for k, v in summary.items() if v is not None}, result.steps)
    buffer.flush()
    version = tracking.register_directory(
        mlflow,
        BASE_MODEL_NAME,
        run_id,
        result.model_dir,
        tags,
        artifact_path=ARTIFACT,
        description="Base models pretrained by llmops on a corpus (the embedded default).",
    )
    mlflow.set_terminated(run_id)
    return _ref(version, mlflow, reused=False)


def local_base(mlflow: Any, ref: BaseModelRef, cache_dir: Path) -> Path:
    """A local directory of the registered base: downloaded once per version into `cache_dir`."""
    target = Path(cache_dir) / f"{ref.model_name}-v{ref.version}-{ref.run_id[:8]}"
    if (target / "config.json").is_file():
        return target
    downloaded = tracking.download_version(ref.uri, target.with_name(target.name + ".download"))
    if target.exists():
        import shutil

        shutil.rmtree(target)
    downloaded.rename(target)
    return target
