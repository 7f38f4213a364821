"""The headers every adapter sends (`_http.provider_headers`): one rule for all three."""

from seawall.providers import AnthropicProvider, GeminiProvider, OpenAIProvider
from seawall.providers._http import provider_headers


def test_configured_headers_replace_the_fixed_ones_whatever_their_case() -> None:
    headers = provider_headers(
        {"content-type": "application/json", "anthropic-version": "v1"},
        {"Content-Type": "application/x", "X-Team": "a"},
        None,
    )
    assert headers == {"content-type": "application/x", "anthropic-version": "v1", "x-team": "a"}


def test_the_credential_is_never_replaced_and_never_sent_twice() -> None:
    headers = provider_headers(
        {"content-type": "application/json"}, {"Authorization": "other"}, ("Authorization", "k")
    )
    assert headers == {"content-type": "application/json", "authorization": "k"}
    assert provider_headers({}, None, None) == {}


def test_each_adapter_sends_its_own_credential_header() -> None:
    configured = {"X-Extra": "1"}
    openai = OpenAIProvider("o", "http://o/v1", api_key="ko", headers=configured)
    anthropic = AnthropicProvider("a", "http://a", api_key="ka", headers=configured)
    gemini = GeminiProvider("g", "http://g", api_key="kg", headers=configured)
    assert openai._headers == {
        "content-type": "application/json",
        "x-extra": "1",
        "authorization": "Bearer ko",
    }
    assert anthropic._headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-extra": "1",
        "x-api-key": "ka",
    }
    assert gemini._headers == {"content-type": "application/json", "x-extra": "1", "x-goog-api-key": "kg"}
    assert "authorization" not in OpenAIProvider("o", "http://o/v1")._headers  # no key, no header
