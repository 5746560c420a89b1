"""jaft: adapt LLMs to Japanese, from raw text to a verified, quantized model.

Importing this package is cheap on purpose: torch, transformers and fugashi load only inside the
stages that need them, so `jaft --help` stays instant.
"""

__version__ = "0.1.0"
