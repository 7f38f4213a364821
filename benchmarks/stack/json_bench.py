#!/usr/bin/env python3
"""JSON library microbenchmark: orjson vs msgspec vs the standard library's json.

What a gateway does per request: parse the client's request (~250 bytes) and serialise it
again for the upstream; parse the upstream's answer (~600 bytes) and serialise it again for
the client (or for a trace); and, for streams, parse each SSE chunk (~230 bytes). Each case is
timed with timeit (best of --repeat; the minimum is the least disturbed by other load on the
machine) and reported in microseconds per operation. Output bytes are checked to round-trip.

  python stack/json_bench.py              # needs orjson and msgspec; missing ones are skipped
  taskset -c 1 python stack/json_bench.py --repeat 9
"""

import argparse
import json
import platform
import timeit

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Write one short sentence about foxes and the forest they live in."},
    ],
    "max_tokens": 64,
    "temperature": 0.2,
    "stream": False,
    "user": "user-1234",
}
RESPONSE = {
    "id": "chatcmpl-000000000001",
    "object": "chat.completion",
    "created": 1795676536,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The quick brown fox jumps over the lazy dog while the gateway forwards",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 38,
        "completion_tokens": 16,
        "total_tokens": 54,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_bench_v1",
}
CHUNK = {
    "id": "chatcmpl-000000000002",
    "object": "chat.completion.chunk",
    "created": 1795676536,
    "model": "gpt-4o-mini",
    "service_tier": "default",
    "system_fingerprint": "fp_bench_v1",
    "choices": [{"index": 0, "delta": {"content": " fox"}, "logprobs": None, "finish_reason": None}],
}


def codecs():
    out = {
        "json (stdlib)": (
            json.loads,
            lambda o: json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode(),
        )
    }
    try:
        import orjson

        out["orjson " + orjson.__version__] = (orjson.loads, orjson.dumps)
    except ImportError:
        print("orjson not installed: skipped")
    try:
        import msgspec

        out["msgspec " + msgspec.__version__] = (msgspec.json.decode, msgspec.json.encode)
    except ImportError:
        print("msgspec not installed: skipped")
    return out


def best_us(stmt, repeat):
    timer = timeit.Timer(stmt)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = p.parse_args(argv)
    docs = {"request": REQUEST, "response": RESPONSE, "sse chunk": CHUNK}
    raw = {k: json.dumps(v, separators=(",", ":")).encode() for k, v in docs.items()}
    print(
        f"Python {platform.python_version()}; sizes: " + ", ".join(f"{k} {len(v)} B" for k, v in raw.items())
    )
    results = {}
    for name, (loads, dumps) in codecs().items():
        row = {}
        for doc, data in raw.items():
            obj = loads(data)
            assert loads(dumps(obj)) == docs[doc], (name, doc)
            row[f"{doc} loads"] = best_us(lambda f=loads, d=data: f(d), args.repeat)
            row[f"{doc} dumps"] = best_us(lambda f=dumps, o=obj: f(o), args.repeat)
        row["per request (req+resp, loads+dumps)"] = sum(
            row[f"{d} {op}"] for d in ("request", "response") for op in ("loads", "dumps")
        )
        row["per 14-chunk stream (req loads+dumps, 14 chunk loads)"] = (
            row["request loads"] + row["request dumps"] + 14 * row["sse chunk loads"]
        )
        results[name] = row
    cols = list(next(iter(results.values())))
    print("\n| library | " + " | ".join(cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for name, row in results.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in cols) + " |")
    print("\n(microseconds per operation, best of", args.repeat, "repeats)")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
