"""The NLU: a Rasa project (config.yml, domain.yml, data/) served by `rasa run --enable-api`, and the
app's client for it (nlu.client)."""
