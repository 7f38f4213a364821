"""Testing helpers: run your own code against a Seawall gateway that replays a cassette — no network,
no API key, the same answers every run.

Record once (any gateway with traces on), export the traces you need, and test against them:

    seawall traces export 01a2... 01a3... -o tests/cassettes/checkout.json

    import pytest

    @pytest.mark.seawall_cassette("tests/cassettes/checkout.json")
    async def test_checkout(seawall_cassette):
        async with seawall_cassette.gateway() as gw:             # library mode
            answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "What is 17+25?"}])
        async with seawall_cassette.app() as app:                 # or over HTTP, in process
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seawall")
            client = openai.AsyncOpenAI(base_url="http://seawall/v1", api_key="unused", http_client=http)
            ...

The `seawall_cassette` fixture and the marker are registered for pytest by this package (entry point
`pytest11`); without pytest, use `CassettePlayer(path)` directly. Upstream calls are matched by
provider and exact request body (see `seawall.replay._cassette`); a call the cassette lacks raises
`CassetteMiss`, naming it. Traces of the replayed requests are not stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seawall._gateway import Gateway
    from seawall.config import GatewayConfig
    from seawall.server import SeawallApp


class CassettePlayer:
    """Gateways (library or ASGI) whose providers answer from one cassette."""

    def __init__(self, path: str | Path, *, config: GatewayConfig | None = None) -> None:
        from seawall.replay._cassette import load

        self.path = Path(path)
        self.cassette = load(path)
        self._config = config

    def _gateway(self) -> Gateway:
        from seawall._gateway import Gateway
        from seawall.replay._cassette import cassette_transports

        config = self._config or self.cassette.config()
        quiet = config.model_copy(update={"traces": config.traces.model_copy(update={"store": "none"})})
        return Gateway(quiet, transports=cassette_transports(self.cassette), source=str(self.path))

    @contextlib.asynccontextmanager
    async def gateway(self) -> AsyncIterator[Gateway]:
        """A started gateway (library mode) replaying the cassette."""
        async with self._gateway() as gw:
            yield gw

    @contextlib.asynccontextmanager
    async def app(self) -> AsyncIterator[SeawallApp]:
        """The ASGI app of a started gateway replaying the cassette (serve it, or call it in-process
        with `httpx.ASGITransport`)."""
        from seawall.server import SeawallApp

        async with self._gateway() as gw:
            yield SeawallApp(gw)


# -- the pytest plugin --------------------------------------------------------------------------
def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "seawall_cassette(path): the cassette the `seawall_cassette` fixture replays"
    )


def _fixture() -> Any:
    import pytest

    @pytest.fixture
    def seawall_cassette(request: Any) -> CassettePlayer:
        """A `CassettePlayer` for the cassette named by the test's `seawall_cassette` marker."""
        marker = request.node.get_closest_marker("seawall_cassette")
        if marker is None or not marker.args:
            raise pytest.UsageError("the seawall_cassette fixture needs @pytest.mark.seawall_cassette(PATH)")
        path = Path(marker.args[0])
        if not path.is_absolute():
            path = Path(request.config.rootpath) / path
        return CassettePlayer(path, **marker.kwargs)

    return seawall_cassette


# A pytest plugin module exposes its fixtures as attributes; without pytest there is nothing to do.
with contextlib.suppress(ImportError):
    seawall_cassette = _fixture()


__all__ = ["CassettePlayer", "pytest_configure"]
