"""Encoders: presets, construction, export."""

from veco_lightning.models.encoder import PRESETS, EncoderSpec, build_encoder, preset_config

__all__ = ["PRESETS", "EncoderSpec", "build_encoder", "preset_config"]
