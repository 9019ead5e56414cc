"""Builders: raw recordings -> Hugging Face spike-to-text datasets."""
