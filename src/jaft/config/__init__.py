"""Run configuration: pydantic sections, YAML presets, CLI overrides, and the resolved snapshot.

A run's whole configuration is one :class:`RunConfig`; every output directory records the resolved
one as ``jaft_run.yaml`` so later stages read it instead of asking again.
"""

from jaft.config.base import StrictModel
from jaft.config.data import JapaneseDataConfig
from jaft.config.export import ExportSection
from jaft.config.grpo import GrpoSection
from jaft.config.load import apply_overrides, load_run_config, parse_override
from jaft.config.model import ModelSection
from jaft.config.run import RunConfig
from jaft.config.train import LoraSection, TrainSection

__all__ = [
    "ExportSection",
    "GrpoSection",
    "JapaneseDataConfig",
    "LoraSection",
    "ModelSection",
    "RunConfig",
    "StrictModel",
    "TrainSection",
    "apply_overrides",
    "load_run_config",
    "parse_override",
]
