"""Does the assistant answer from the index? Measured on the champion that `make run` left on the local stack.

On eval-split questions (their documents never gave a training pair), asked as `llmops ask` asks them:
ROUGE-L against the reference answer with the retrieved passages in the prompt and without them, and
the share of answers that share a run of five or more words, or of 30 or more characters (a
signature is few words), with the passages they were given, against the share that do with the
passages of another question (the control). Also: how long each
stage of the last lifecycle run took, so the time pretraining adds to `make run` is on the record.

    make run && python benchmarks/bench_rag.py [--out results.json] [--questions 64]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llmops import clients, prefect_api
from llmops.settings import load_settings
from tasks.evaluate.scoring import score_generations
from tasks.serve import Answerer
from tasks.services import lakefs as versioning
from tasks.services.embedding import embed
from tasks.services.mlflow import CHAMPION
from tasks.train import Lineage, generate

WORD = re.compile(r"\w+")


def shares_run(answer: str, passages: str, n: int = 5) -> bool:
    """Whether `answer` has a run of `n` words (lower-cased) that also occurs in `passages`."""
    words, source = WORD.findall(answer.lower()), " ".join(WORD.findall(passages.lower()))
    return any(" ".join(words[i : i + n]) in source for i in range(len(words) - n + 1))


def copied_chars(answer: str, passages: str) -> int:
    """Length of the longest run of characters (whitespace collapsed) that `answer` shares with `passages`."""
    from difflib import SequenceMatcher

    a, b = " ".join(answer.split()), " ".join(passages.split())
    if not a or not b:
        return 0
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def stage_seconds(settings) -> dict[str, float]:
    """Seconds per stage of the newest lifecycle run (its subflow runs)."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter
    from prefect.client.schemas.sorting import FlowRunSort

    with prefect_api.prefect_client(settings) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["lifecycle"])), sort=FlowRunSort.START_TIME_DESC, limit=5
        )
        done = [r for r in runs if r.total_run_time and r.total_run_time.total_seconds() > 0]
        if not done:
            return {}
        parent = done[0]
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [parent.id]}))
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                id={
                    "any_": [
                        t.state.state_details.child_flow_run_id
                        for t in task_runs
                        if t.state and t.state.state_details.child_flow_run_id
                    ]
                }
            )
        )
        flows = {f.id: f.name for f in client.read_flows()}
    out = {flows.get(s.flow_id, s.name): round(s.total_run_time.total_seconds(), 1) for s in subflows}
    out["lifecycle"] = round(parent.total_run_time.total_seconds(), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--model", default="llmops-assistant")
    parser.add_argument("--alias", default="llmops_docs")
    args = parser.parse_args()
    settings = load_settings()
    mlflow, milvus, lk = (
        clients.mlflow_client(settings),
        clients.milvus_client(settings),
        clients.lakefs_client(settings),
    )
    try:
        version = mlflow.get_model_version_by_alias(args.model, CHAMPION)
    except Exception as exc:
        sys.exit(f"no champion of {args.model} on the local stack ({exc}); run `make run` first")
    lineage = Lineage.from_tags(version.tags)
    evals = versioning.read_dataframes(lk, lineage.lakefs_repository, lineage.lakefs_commit, [lineage.eval_path])
    evals = evals.sample(n=min(args.questions, len(evals)), random_state=0).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        answerer = Answerer(mlflow, milvus, args.model, args.alias, embed, Path(tmp))
        results = answerer.ask(evals["prompt"].tolist())
        without = generate(
            answerer.model, answerer.tokenizer, evals["prompt"].tolist(), max_new_tokens=64, template=answerer.template
        )
    answers = [r.answer for r in results]
    references = evals["response"].tolist()
    with_rag = score_generations(answers, references)
    no_rag = score_generations([a.strip() for a in without], references)
    grounded = sum(shares_run(r.answer, r.context) for r in results) / len(results)
    others = [results[(i + 1) % len(results)].context for i in range(len(results))]  # another question's passages
    control = sum(shares_run(r.answer, c) for r, c in zip(results, others, strict=True)) / len(results)
    # Signatures are few words but many characters: a 30-character copy counts them too.
    copied = sum(copied_chars(r.answer, r.context) >= 30 for r in results) / len(results)
    copied_control = sum(copied_chars(r.answer, c) >= 30 for r, c in zip(results, others, strict=True)) / len(results)
    hit = sum(json.loads(m)["title"] in r.context for m, r in zip(evals["meta"], results, strict=True)) / len(results)
    report = {
        "model": f"models:/{args.model}/{version.version}",
        "questions": len(results),
        "rouge_l_with_retrieval": round(with_rag["rouge_l"][0], 3),
        "rouge_l_without_retrieval": round(no_rag["rouge_l"][0], 3),
        "exact_match_with_retrieval": round(with_rag["exact_match"][0], 3),
        "exact_match_without_retrieval": round(no_rag["exact_match"][0], 3),
        "answers_sharing_5_words_with_their_passages": round(grounded, 3),
        "answers_sharing_5_words_with_other_passages": round(control, 3),
        "answers_copying_30_chars_from_their_passages": round(copied, 3),
        "answers_copying_30_chars_from_other_passages": round(copied_control, 3),
        "answer_document_among_the_passages": round(hit, 3),
        "stage_seconds": stage_seconds(settings),
        "examples": [
            {"question": r.question, "answer": r.answer, "reference": ref, "sources": r.sources()}
            for r, ref in random.Random(1).sample(list(zip(results, references, strict=True)), 3)
        ],
    }
    for key, value in report.items():
        if key != "examples":
            print(f"{key}: {value}")
    for example in report["examples"]:
        print(
            f"\nQ: {example['question']}\nA: {example['answer']}\nreference: {example['reference']}\n"
            f"sources: {'; '.join(example['sources'])}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
