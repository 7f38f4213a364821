import seawall
import seawall.errors


def test_all_is_sorted_and_resolves() -> None:
    for module in (seawall, seawall.errors):
        names = module.__all__
        assert list(names) == sorted(names), module.__name__
        for name in names:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_importing_seawall_has_no_side_effects() -> None:
    import subprocess
    import sys

    # Heavy and optional modules load only when used (Gateway, server, backends).
    code = "import sys, seawall; print([m for m in ('aiohttp', 'uvicorn', 'sqlite3') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_gateway_is_public_and_lazy() -> None:
    from seawall._gateway import Gateway

    assert seawall.Gateway is Gateway
