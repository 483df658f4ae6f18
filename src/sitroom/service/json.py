"""JSON answers as the CLI's ``--json`` writes them (orjson: keys that are not strings, such as
a count by year, are written as text; a float that is not a number becomes null)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
