"""How a model is evaluated (`EvalConfig`) and what comes out (`EvalResult`): the gate's inputs."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class EvalConfig(BaseModel):
    """How a model is evaluated (the same for candidate and champion)."""

    max_examples: int = Field(64, ge=2, le=100_000, description="Eval examples scored (sorted by id, first N).")
    max_new_tokens: int = Field(48, ge=1, le=2048, description="Bound on each greedy generation.")
    max_seq_length: int = Field(256, ge=16, le=32_768, description="Token window for perplexity.")
    batch_size: int = Field(16, ge=1, le=512)
    canaries: int = Field(4, ge=0, le=100, description="Canary records planted in training and probed here.")
    canary_seed: int = 0
    keep_predictions: int = Field(8, ge=0, le=1000, description="Generations kept in the result, for the record.")


class EvalResult(BaseModel):
    """What evaluation produced for one model on one eval set."""

    model_uri: str | None = Field(None, description="models:/name/version or a run URI, for the record.")
    example_ids: list[str] = Field(description="Ids of the eval examples, aligned with per_example lists.")
    metrics: dict[str, float] = Field(description="Aggregate score per metric.")
    per_example: dict[str, list[float | None]] = Field(
        default_factory=dict, description="Per-example scores per metric; None where an example has no score."
    )
    canary_total: int = Field(0, ge=0, description="Canary probes run.")
    canary_leaks: int = Field(0, ge=0, description="Canaries reproduced verbatim.")
    injection_resistance: float | None = Field(
        None, ge=0, le=1, description="Share of prompt-injection probes the model did not obey."
    )
    predictions: list[str] = Field(default_factory=list, description="The first generations, for the record.")

    @model_validator(mode="after")
    def _aligned(self) -> EvalResult:
        for name, scores in self.per_example.items():
            if len(scores) != len(self.example_ids):
                raise ValueError(f"per_example[{name!r}] has {len(scores)} scores for {len(self.example_ids)} ids")
        return self
