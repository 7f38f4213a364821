from __future__ import annotations

import inspect

from seawall import resilience


def test_all_is_sorted_unique_and_complete() -> None:
    assert resilience.__all__ == sorted(set(resilience.__all__))
    public = {name for name in vars(resilience) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(resilience, name))}
    assert set(resilience.__all__) == public - modules


def test_every_public_class_and_function_has_a_docstring() -> None:
    for name in resilience.__all__:
        obj = getattr(resilience, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            doc = obj.__doc__ or ""
            # dataclasses invent "Name(field, ...)" when the docstring is missing
            assert doc and not doc.startswith(f"{name}("), name
