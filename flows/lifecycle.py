"""The whole lifecycle as one flow: ingest → prepare → index → pretrain → fine-tune → evaluate+gate → release."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, State
from pydantic import BaseModel

from flows.evaluation import evaluate_flow
from flows.index import index_flow
from flows.ingest import ingest_flow
from flows.prepare import prepare_flow
from flows.pretrain import pretrain_flow
from flows.release import release_flow
from flows.train import train_flow
from tasks.evaluate import EvalConfig, GatePolicy
from tasks.evaluate.tasks import recorded_metrics
from tasks.index import IndexConfig
from tasks.ingest import SourceConfig
from tasks.prepare import PrepConfig
from tasks.pretrain import PretrainConfig
from tasks.release.tasks import current_champion, record_approval, wait_for_approval
from tasks.train import EMBEDDED_DEFAULT, FinetuneConfig


class LifecycleResult(BaseModel):
    data_commit: str
    dataset_tag: str
    base_model: str | None  # models:/llmops-base/<v>, or the hub id / path fine-tuned
    base_heldout_perplexity: float | None  # of the pretrained base, on held-out documents
    model_name: str
    model_version: str
    eval_perplexity: float | None  # of the candidate on the eval answers, with retrieval
    eval_rouge_l: float | None
    eval_rouge_l_no_retrieval: float | None
    base_rouge_l: float | None  # the base model without the adapter, prompted the same way
    base_eval_perplexity: float | None = None  # the base model's, on the same eval answers and prompts
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
    pretrain_config: PretrainConfig | None = None,
    finetune: FinetuneConfig | None = None,
    eval_config: EvalConfig | None = None,
    policy: GatePolicy | None = None,
    index_config: IndexConfig | None = None,
    model_name: str = "llmops-assistant",
) -> LifecycleResult | State:
    """Run every stage once; unchanged data and config reuse every earlier result."""
    eval_config, finetune = eval_config or EvalConfig(), finetune or FinetuneConfig()
    raw = ingest_flow(sources=sources, source_config=source_config)
    dataset = prepare_flow(raw=raw, prep_config=prep_config)
    # The index comes first: every training example carries the passages it returns (built beside the live one).
    index = index_flow(dataset=dataset, index_config=index_config, swap=False)
    base = (
        pretrain_flow(dataset=dataset, pretrain_config=pretrain_config)
        if finetune.base_model == EMBEDDED_DEFAULT
        else None
    )
    candidate = train_flow(
        dataset=dataset,
        finetune=finetune,
        eval_config=eval_config,
        model_name=model_name,
        base=base,
        index_collection=index.collection,
    )
    approval = None
    if candidate.reused and current_champion(model_name) == candidate.version:
        promote, reasons = True, ["unchanged data and config: the champion is this very version"]
    else:
        decision = evaluate_flow(
            candidate=candidate,
            dataset=dataset,
            policy=policy,
            eval_config=eval_config,
            promote=False,
            index_collection=index.collection,
            return_state=True,
        ).result()
        promote, reasons = decision.promote, decision.reasons
        policy = policy or GatePolicy()
        if promote and policy.require_approval:  # a person decides; the run holds nothing while it waits
            approval = wait_for_approval(model_name, candidate.version, reasons, policy.approval_timeout_hours)
            promote, reasons = approval.approved, [*reasons, record_approval(model_name, candidate.version, approval)]
    if promote:  # model and index go live together, or neither does
        release_flow(
            model_name=model_name,
            version=candidate.version,
            index_alias=index.alias,
            collection=index.collection,
            approved_by=approval and approval.approver,
            approval_reason=approval and approval.reason,
        )
    champion = current_champion(model_name)
    metrics = recorded_metrics(candidate.run_id)
    result = LifecycleResult(
        data_commit=dataset.commit,
        dataset_tag=dataset.tag,
        base_model=candidate.base_model,
        base_heldout_perplexity=base.heldout_perplexity if base else None,
        model_name=model_name,
        model_version=candidate.version,
        eval_perplexity=metrics.get("perplexity"),
        eval_rouge_l=metrics.get("rouge_l"),
        eval_rouge_l_no_retrieval=metrics.get("rouge_l_no_retrieval"),
        base_rouge_l=metrics.get("base_rouge_l"),
        base_eval_perplexity=metrics.get("base_perplexity"),
        champion=champion,
        index_collection=index.collection,
        index_alias=index.alias,
        promoted=champion == candidate.version,
        reasons=reasons,
    )
    if not result.promoted:
        return Completed(name="NotPromoted", message="; ".join(reasons), data=result)
    return result
