"""Adapters from our data, models and search engine to the field's engines (MTEB, BEIR)."""
