"""What every config section shares: strict models (unknown keys fail loudly) and path-naming errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PathError(ValueError):
    """A cross-reference error that knows the key path it belongs to."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
