"""The whole lifecycle as one flow: ingest → prepare → fine-tune → register → index → evaluate+gate → release."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, State
from pydantic import BaseModel

from flows.evaluation import evaluate_flow
from flows.index import index_flow
from flows.ingest import ingest_flow
from flows.prepare import prepare_flow
from flows.release import release_flow
from flows.train import train_flow
from tasks.evaluate import EvalConfig, GatePolicy
from tasks.index import IndexConfig
from tasks.ingest import SourceConfig
from tasks.prepare import PrepConfig
from tasks.release.tasks import current_champion
from tasks.train import FinetuneConfig


class LifecycleResult(BaseModel):
    data_commit: str
    dataset_tag: str
    model_name: str
    model_version: str
    champion: str | None
    index_collection: str
    index_alias: str
    promoted: bool
    reasons: list[str]


@flow(name="lifecycle", log_prints=True, persist_result=True)
def lifecycle_flow(
    sources: list[str] | None = None,
    source_config: SourceConfig | None = None,
    prep_config: PrepConfig | None = None,
    finetune: FinetuneConfig | None = None,
    eval_config: EvalConfig | None = None,
    policy: GatePolicy | None = None,
    index_config: IndexConfig | None = None,
    model_name: str = "llmops-assistant",
) -> LifecycleResult | State:
    """Run every stage once; unchanged data and config reuse every earlier result."""
    eval_config = eval_config or EvalConfig()
    raw = ingest_flow(sources=sources, source_config=source_config)
    dataset = prepare_flow(raw=raw, prep_config=prep_config)
    candidate = train_flow(dataset=dataset, finetune=finetune, eval_config=eval_config, model_name=model_name)
    index = index_flow(dataset=dataset, index_config=index_config, swap=False)  # built beside the live one
    if candidate.reused and current_champion(model_name) == candidate.version:
        promote, reasons = True, ["unchanged data and config: the champion is this very version"]
    else:
        decision = evaluate_flow(
            candidate=candidate,
            dataset=dataset,
            policy=policy,
            eval_config=eval_config,
            promote=False,
            return_state=True,
        ).result()
        promote, reasons = decision.promote, decision.reasons
    if promote:  # model and index go live together, or neither does
        release_flow(
            model_name=model_name, version=candidate.version, index_alias=index.alias, collection=index.collection
        )
    champion = current_champion(model_name)
    result = LifecycleResult(
        data_commit=dataset.commit,
        dataset_tag=dataset.tag,
        model_name=model_name,
        model_version=candidate.version,
        champion=champion,
        index_collection=index.collection,
        index_alias=index.alias,
        promoted=champion == candidate.version,
        reasons=reasons,
    )
    if not result.promoted:
        return Completed(name="NotPromoted", message="; ".join(reasons), data=result)
    return result
