"""Helpers for backends that move records between processes: update a live record in place.

A resilience facade holds the record it steps (and records nested in it), so a backend that
applies another replica's state must keep those objects and change their fields. This module only
copies plain data between records of one type; it must not know record kinds or merge policies
(which replica wins, or how windows add up, is the backend's decision).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any


def assign_record(dst: Any, src: Any) -> None:
    """Make `dst` equal to `src` without replacing `dst` or any record nested in it.

    Fields holding records (dataclass instances) are assigned recursively; every other field gets
    a deep copy of `src`'s value, so the two never share a list or an array afterwards.
    """
    if type(dst) is not type(src) or not dataclasses.is_dataclass(dst) or isinstance(dst, type):
        raise TypeError(f"cannot assign a {type(src).__name__} to a {type(dst).__name__}")
    for f in dataclasses.fields(dst):
        new, old = getattr(src, f.name), getattr(dst, f.name)
        if dataclasses.is_dataclass(old) and not isinstance(old, type) and type(old) is type(new):
            assign_record(old, new)
        else:
            setattr(dst, f.name, copy.deepcopy(new))
