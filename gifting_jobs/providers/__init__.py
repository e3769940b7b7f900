"""Providers: pluggable families (embeddings, enrichment, push), a base beside its implementations."""
