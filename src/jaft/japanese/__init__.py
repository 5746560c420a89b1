"""Japanese text processing: normalization, analysis, style, augmentation, answers."""
