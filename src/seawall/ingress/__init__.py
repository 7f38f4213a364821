"""Client dialects at Seawall's ingress: parse into the canonical request, encode answers back.

`OPENAI` (Chat Completions, also library mode) and `ANTHROPIC` (Messages) implement
`IngressDialect`; the gateway's request lifecycle is written once against it. Pure: no I/O.
"""

from seawall.ingress._anthropic import ANTHROPIC, AnthropicDialect, parse_anthropic_request
from seawall.ingress._base import IngressDialect, StreamEncoder
from seawall.ingress._controls import TRACE_HEADERS, apply_controls, kept_headers
from seawall.ingress._errors import error_headers, openai_error_body
from seawall.ingress._openai import OPENAI, OpenAIDialect
from seawall.ingress._openai_validate import parse_openai_request

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "TRACE_HEADERS",
    "AnthropicDialect",
    "IngressDialect",
    "OpenAIDialect",
    "StreamEncoder",
    "apply_controls",
    "error_headers",
    "kept_headers",
    "openai_error_body",
    "parse_anthropic_request",
    "parse_openai_request",
]
