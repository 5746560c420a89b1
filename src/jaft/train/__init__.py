"""Training: SFT (LoRA / QLoRA / full) and GRPO, built on TRL, PEFT and transformers."""
