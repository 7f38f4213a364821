"""The built-in simulated provider: a deterministic fake LLM API with fault injection.

It speaks the real wire formats of OpenAI Chat Completions, Anthropic Messages and Google
Gemini over real HTTP, so Seawall's normal provider adapters (and the vendors' SDKs) talk to
it unchanged. Uses: the default provider of a gateway started with no configuration (no API
key needed), a fake upstream for tests, and game days (`seawall simulate --port P`).

Answers are deterministic (verifiable questions such as arithmetic, primality or extraction
are answered right, ``echo:`` repeats, the tool that fits the request is called with arguments
read off it); faults are drawn per request from the seed, and can
be changed at runtime through `Simulator.update` or ``POST /_control``.

Layout: `_model` decides the answer (pure), `_solve` knows the questions it can answer (pure),
`_faults` draws the faults (pure), `_openai`,
`_anthropic`, `_gemini` render them to each wire format, `_server` does the HTTP.
"""

from seawall.simulate._server import Simulator, run_simulator
from seawall.simulate._settings import SimulatorSettings, settings_from_mapping

__all__ = [
    "Simulator",
    "SimulatorSettings",
    "run_simulator",
    "settings_from_mapping",
]
