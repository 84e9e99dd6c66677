"""Sentence BLEU (up to 4-grams, add-one smoothing for n > 1, brevity penalty) on a 0-100 scale."""

# Each metric module is a self-contained script: `evaluate.load(dir)` copies it alone into its
# cache, so the Metric boilerplate is repeated rather than imported from a shared file.

import math
import re
from collections import Counter

import datasets
import evaluate

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def sentence_bleu(prediction, reference, max_n=4):
    pred = _TOKEN.findall(prediction.lower())
    ref = _TOKEN.findall(reference.lower())
    if not pred or not ref:
        return 0.0
    orders = min(max_n, len(pred))  # a 2-word prediction is scored on 1- and 2-grams only
    log_precision = 0.0
    for n in range(1, orders + 1):
        pred_ngrams = Counter(tuple(pred[i : i + n]) for i in range(len(pred) - n + 1))
        ref_ngrams = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
        overlap = sum((pred_ngrams & ref_ngrams).values())
        total = sum(pred_ngrams.values())
        if n == 1 and overlap == 0:
            return 0.0
        smooth = 0 if n == 1 else 1  # add-one smoothing keeps short sentences from scoring 0
        log_precision += math.log((overlap + smooth) / (total + smooth))
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return 100 * brevity * math.exp(log_precision / orders)


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Smoothed sentence-level BLEU per example, and its mean.",
            citation="Papineni et al., 2002; smoothing as in Lin and Och, 2004.",
            inputs_description="predictions: list of str; references: list of str",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        scores = [sentence_bleu(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"bleu": sum(scores) / len(scores) if scores else 0.0, "per_example": scores}
