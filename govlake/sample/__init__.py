"""Seeded sample department sources for Ezhou, with defects and a ground-truth manifest."""

from govlake.sample.config import DefectRates, SampleConfig, load_config
from govlake.sample.generate import generate_sources
from govlake.sample.increment import generate_increment
from govlake.sample.manifest import Manifest

__all__ = [
    "DefectRates",
    "Manifest",
    "SampleConfig",
    "generate_increment",
    "generate_sources",
    "load_config",
]
