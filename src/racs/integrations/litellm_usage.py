"""Reading LiteLLM's usage for the live callback; the reading itself is
``racs.providers.litellm_usage`` (shared with the log importer ``racs.traffic.litellm``).

LiteLLM normalises every provider to OpenAI-style usage whose ``prompt_tokens`` INCLUDES
the cached tokens. A usage that breaks ``racs.providers.usage``'s rule is refused: a
warning names the field and nothing is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from racs.core.model import CacheUsage
from racs.providers.litellm_usage import LITELLM_PROVIDERS as LITELLM_PROVIDERS
from racs.providers.litellm_usage import is_litellm_cache_hit as is_litellm_cache_hit
from racs.providers.litellm_usage import litellm_usage
from racs.providers.litellm_usage import provider_of as provider_of
from racs.providers.usage import UsageRefused

_log = logging.getLogger(__name__)


def usage_from_litellm(
    kwargs: Mapping[str, Any],
    response_obj: Any,
    *,
    prefix_key: str | None = None,
) -> CacheUsage | None:
    """The provider's all-in cache usage of one LiteLLM completion, ``None`` if unknown
    (or refused: then a warning names the field)."""
    try:
        found = litellm_usage(kwargs, response_obj)
    except UsageRefused as refused:
        _log.warning("racs: LiteLLM usage refused (%s); not recorded", refused.message)
        return None
    if found is None:
        return None
    t = found.tokens
    return CacheUsage(
        provider=found.provider,
        model=found.model,
        input_tokens=t.input,
        cache_read_tokens=t.read,
        cache_write_tokens_5m=t.write_5m,
        cache_write_tokens_30m=t.write_30m,
        prefix_key=prefix_key,
    )
