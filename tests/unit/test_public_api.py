import seawall
import seawall.engine
import seawall.errors
import seawall.ingress
import seawall.providers
import seawall.resilience
import seawall.state
import seawall.trace


def test_all_is_sorted_and_resolves() -> None:
    packages = (
        seawall.engine,
        seawall.ingress,
        seawall.providers,
        seawall.resilience,
        seawall.state,
        seawall.trace,
    )
    for module in (seawall, seawall.errors, *packages):
        names = module.__all__
        # isort-style, as ruff's RUF022 keeps them: CONSTANTS, then Classes, then functions
        assert list(names) == sorted(
            names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
        )
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
