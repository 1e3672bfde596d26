"""Plain JSON with the typed `kubernetes` client.

The node agent speaks the API's own camelCase JSON (dicts), not the client's models: the
generated methods accept a dict body and, with ``_preload_content=False``, return the raw
response. These two helpers say so once, for the type checker too.
"""

from __future__ import annotations

import json
from typing import Any


def body(obj: dict[str, Any]) -> Any:
    """A request body as a plain dict (the client's methods are typed with models)."""
    return obj


def json_of(response: Any) -> Any:
    """The parsed JSON of a response fetched with ``_preload_content=False``."""
    return json.loads(response.data)
