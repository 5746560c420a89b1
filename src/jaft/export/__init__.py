"""Export: merge → GGUF F16 → quantize (llama.cpp) → verify vs HF logits → Ollama Modelfile → serve.

Each stage is a module with one public entry point; :mod:`jaft.export.pipeline` runs them in order,
reusing every output whose marker says it is still valid, and writes ``export_report.json``.

Heavy libraries (torch, transformers, peft, llama_cpp) are imported inside the functions that use
them, so importing this package is cheap.
"""
