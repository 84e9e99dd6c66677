"""One module per drift statistic; each returns a `SubTest` judged at the level it is given.

classifier.py  domain classifier ROC AUC on prompt embeddings (permutation null)
mmd.py         MMD^2 on prompt embeddings (permutation null)
novelty.py     distance of the current window's farthest prompts to the reference (permutation null)
outputs.py     response length and empty-or-refusal rate
retrieval.py   top-1 similarity to the index
common.py      permutation tests, subsampling
"""

from tasks.monitor.statistics.classifier import classifier_subtest, domain_classifier_test, fit_logistic_batch
from tasks.monitor.statistics.common import PermutationTest
from tasks.monitor.statistics.mmd import MMDTest, mmd_subtest, mmd_test
from tasks.monitor.statistics.novelty import novelty_subtest, novelty_test
from tasks.monitor.statistics.outputs import REFUSAL_PATTERNS, is_empty_or_refusal, length_test, refusal_test
from tasks.monitor.statistics.retrieval import retrieval_test

__all__ = [
    "REFUSAL_PATTERNS",
    "MMDTest",
    "PermutationTest",
    "classifier_subtest",
    "domain_classifier_test",
    "fit_logistic_batch",
    "is_empty_or_refusal",
    "length_test",
    "mmd_subtest",
    "mmd_test",
    "novelty_subtest",
    "novelty_test",
    "refusal_test",
    "retrieval_test",
]
