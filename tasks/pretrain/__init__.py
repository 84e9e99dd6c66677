"""The pretrain stage: the embedded default base model, trained from scratch on the dataset's corpus.

    config.py   PretrainConfig: tokenizer and model shape, the schedule, the held-out share; its hash
    model.py    the byte-level BPE tokenizer and the Llama-shaped model it starts from (random weights)
    data.py     documents → held-out split → token blocks
    loop.py     pretrain: every weight trained, resumable after a crash, the held-out perplexity curve
    run.py      pretrain_and_register: content-addressed by (corpus digest, recipe), registered in MLflow as
                `llmops-base`; local_base downloads a registered version for fine-tuning
    tasks.py    the Prefect task over `pretrain_and_register`

Other stages use what this file exports.
"""

from tasks.pretrain.config import PretrainConfig
from tasks.pretrain.data import document_texts, split_heldout, token_blocks
from tasks.pretrain.loop import CurvePoint, PretrainResult, PretrainResumeError, pretrain
from tasks.pretrain.model import (
    BOS,
    EOS,
    PAD,
    EmbeddedModelSpec,
    PretrainDataError,
    build_embedded_model,
    build_tokenizer,
    new_model,
    texts_digest,
)
from tasks.pretrain.run import (
    BASE_MODEL_NAME,
    BaseModelRef,
    corpus_digest,
    find_base,
    local_base,
    pretrain_and_register,
)

__all__ = [
    "BASE_MODEL_NAME",
    "BOS",
    "EOS",
    "PAD",
    "BaseModelRef",
    "CurvePoint",
    "EmbeddedModelSpec",
    "PretrainConfig",
    "PretrainDataError",
    "PretrainResult",
    "PretrainResumeError",
    "build_embedded_model",
    "build_tokenizer",
    "corpus_digest",
    "document_texts",
    "find_base",
    "local_base",
    "new_model",
    "pretrain",
    "pretrain_and_register",
    "split_heldout",
    "texts_digest",
    "token_blocks",
]
