from __future__ import annotations

from pydantic import Field

from jaft.config.base import StrictModel
from jaft.config.data import JapaneseDataConfig
from jaft.config.export import ExportSection
from jaft.config.grpo import GrpoSection
from jaft.config.model import ModelSection
from jaft.config.train import LoraSection, TrainSection


class RunConfig(StrictModel):
    """Everything a run needs. YAML presets fill it; CLI flags override single keys."""

    model: ModelSection = Field(default_factory=ModelSection)
    data: JapaneseDataConfig = Field(default_factory=JapaneseDataConfig)
    train: TrainSection = Field(default_factory=TrainSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    grpo: GrpoSection = Field(default_factory=GrpoSection)
    export: ExportSection = Field(default_factory=ExportSection)
