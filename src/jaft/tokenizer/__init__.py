"""Tokenizer efficiency for Japanese: measure it (``analyze``) and extend the vocabulary (``extend``).

Heavy libraries (tokenizers, transformers, torch, fugashi) are imported inside the functions.
"""
