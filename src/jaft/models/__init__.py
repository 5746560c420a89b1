"""Model loading, chat templates, LoRA helpers and tiny test models."""
