"""Adapters from our data, models and search engine to the field's engines: the wrapping
of our tasks and models for mteb (tasks, ModelMeta registration, the SearchProtocol model,
sharding under torchrun), BEIR's search contract and ir-measures' metrics."""
