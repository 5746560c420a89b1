"""Evaluation: math accuracy with Japanese answer extraction, generation test, perplexity."""
