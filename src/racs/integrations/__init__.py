"""Integrations: OpenTelemetry GenAI spans (:mod:`racs.integrations.opentelemetry`) and a
LiteLLM callback (:mod:`racs.integrations.litellm`). Each imports its library lazily."""
