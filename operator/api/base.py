"""The base of every TuningJob model: camelCase on the wire, docstrings as descriptions."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """Base of every TuningJob model: camelCase on the wire, docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        use_enum_values=False,
        extra="forbid",
    )

    @classmethod
    def from_api(cls, data: Any) -> Self:
        """Parse a camelCase object as the API server returns it."""
        return cls.model_validate(data)

    def to_api(self) -> dict[str, Any]:
        """The camelCase JSON the API server expects; unset optional fields are left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(KubeModel):
    """Base of the status models: tolerant of fields written by a newer operator, and
    validated on assignment too, because the planner edits a status field by field (a
    long trial message is then cut to its limit, not refused by the API server)."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)
