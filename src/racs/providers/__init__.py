"""Provider adapters: segments from a request, apply a plan, usage from a response.

One module per API: :mod:`racs.providers.anthropic`, :mod:`racs.providers.openai`
(``chat`` and ``responses``), :mod:`racs.providers.gemini`, :mod:`racs.providers.bedrock`.
"""
