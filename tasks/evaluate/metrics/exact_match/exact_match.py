"""Exact match after whitespace normalisation, per example (1.0 or 0.0) and averaged."""

# Each metric module is a self-contained script: `evaluate.load(dir)` copies it alone into its
# cache, so the Metric boilerplate is repeated rather than imported from a shared file.

import datasets
import evaluate


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of predictions equal to their reference after collapsing whitespace.",
            citation="",
            inputs_description="predictions: list of str; references: list of str",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        scores = [
            float(" ".join(p.split()) == " ".join(r.split())) for p, r in zip(predictions, references, strict=True)
        ]
        return {"exact_match": sum(scores) / len(scores) if scores else 0.0, "per_example": scores}
