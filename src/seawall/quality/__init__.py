"""Canary suites for silent-degradation detection: verifiable probes and their verifiers.

    from seawall.quality import builtin_suite, ProbeAnswer

    suite = builtin_suite()
    probe = suite.probes[0]
    body = probe.body("gpt-4o-mini")            # an OpenAI chat completions request
    verdict = probe.verify(ProbeAnswer.from_completion(response_json))

See docs/quality.md for the suite format, every verifier, and the shipped `builtin` suite.
"""

from seawall.quality._suite import (
    BUILTIN,
    DEFAULT_MAX_TOKENS,
    Probe,
    Suite,
    builtin_suite,
    load_suite,
    parse_suite,
    resolve_suites,
)
from seawall.quality._verify import (
    VERIFIERS,
    Contains,
    Exact,
    Expect,
    JsonSchema,
    Normalized,
    NotContains,
    Number,
    ProbeAnswer,
    Python,
    Regex,
    ToolCallSpec,
    Verdict,
    verify,
)

__all__ = [
    "BUILTIN",
    "DEFAULT_MAX_TOKENS",
    "VERIFIERS",
    "Contains",
    "Exact",
    "Expect",
    "JsonSchema",
    "Normalized",
    "NotContains",
    "Number",
    "Probe",
    "ProbeAnswer",
    "Python",
    "Regex",
    "Suite",
    "ToolCallSpec",
    "Verdict",
    "builtin_suite",
    "load_suite",
    "parse_suite",
    "resolve_suites",
    "verify",
]
