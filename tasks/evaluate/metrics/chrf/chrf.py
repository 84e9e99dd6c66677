"""chrF (character n-gram F-score, n = 1..6, beta = 2), per example and mean, on a 0-100 scale."""

# Each metric module is a self-contained script: `evaluate.load(dir)` copies it alone into its
# cache, so the Metric boilerplate is repeated rather than imported from a shared file.

from collections import Counter

import datasets
import evaluate


def _ngrams(text, n):
    text = "".join(text.split())  # chrF ignores whitespace
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(prediction, reference, max_n=6, beta=2.0):
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        pred, ref = _ngrams(prediction, n), _ngrams(reference, n)
        if not pred or not ref:
            continue
        overlap = sum((pred & ref).values())
        precisions.append(overlap / sum(pred.values()))
        recalls.append(overlap / sum(ref.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p == 0 and r == 0:
        return 0.0
    return 100 * (1 + beta**2) * p * r / (beta**2 * p + r)


class ChrF(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Character n-gram F-score (Popovic, 2015), averaged over n = 1..6.",
            citation="Popovic, 2015. chrF: character n-gram F-score for automatic MT evaluation.",
            inputs_description="predictions: list of str; references: list of str",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        scores = [chrf(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"chrf": sum(scores) / len(scores) if scores else 0.0, "per_example": scores}
