"""A small OpenAI-compatible HTTP server for tests: the real `openai` SDK talks to it over loopback.

It serves `POST /v1/embeddings` and `POST /v1/chat/completions` (structured
output: the message content is JSON fitting the requested schema, as the real
API answers a `json_schema` response format). Each endpoint has a script: a
queue of behaviours (`Ok`, `Fail`, `Hang`, `Answer`), then a default once
the queue is empty. Every request received is logged, so tests can assert
batching and attempt counts.

Strict mode (`strict(limit, window_seconds=60)`) plays a provider's quota: past
`limit` accepted requests in any sliding window it answers 429 with
`Retry-After` (whole seconds) and `retry-after-ms`, the time until the oldest
accepted request leaves the window, as OpenAI does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import numpy as np

#: The endpoints the server knows, by the name tests script them with.
ENDPOINTS = {"/v1/embeddings": "embeddings", "/v1/chat/completions": "chat"}
#: Dimensions of a vector when the request names none (text-embedding-3-small's native size).
DEFAULT_DIMENSIONS = 1536
#: How often the server loop checks for shutdown (seconds): keeps fixture teardown fast.
POLL_INTERVAL = 0.02

Endpoint = Literal["embeddings", "chat"]


@dataclass(frozen=True)
class Ok:
    """Answer as the real API would; embeddings of `dimensions` floats instead of the asked size if set."""

    dimensions: int | None = None


@dataclass(frozen=True)
class Fail:
    """Answer with an error status, optionally with Retry-After (seconds) or retry-after-ms."""

    status: int
    retry_after: str | None = None
    retry_after_ms: str | None = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class Hang:
    """Answer nothing for `seconds` (or until the server stops), then answer as `Ok`."""

    seconds: float


@dataclass(frozen=True)
class Answer:
    """Chat only: reply with this message content (a dict is sent as JSON), or refuse."""

    content: dict[str, Any] | str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"


Behaviour = Ok | Fail | Hang | Answer

#: Shorthands for the usual scripts.
OK = Ok()
RATE_LIMITED = Fail(429, retry_after="1", message="Rate limit reached")
SERVER_ERROR = Fail(500, message="The server had an error")
BAD_REQUEST = Fail(400, message="Invalid input")


@dataclass(frozen=True)
class ReceivedRequest:
    endpoint: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: The behaviour the request got.
    behaviour: Behaviour = field(compare=False)
    #: `time.monotonic()` when the request arrived.
    received_at: float = field(default_factory=time.monotonic, compare=False)


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic pseudo-embedding of `text` (deliberately not unit length: clients normalise)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return (np.random.default_rng(seed).standard_normal(dimensions) * 3.0).tolist()


def instance_of(schema: dict[str, Any], *, defs: dict[str, Any], prompt: str) -> Any:
    """A value fitting a JSON schema; enum arrays get the values named in `prompt` (a mock LLM)."""
    if "$ref" in schema:
        return instance_of(defs[schema["$ref"].rsplit("/", 1)[-1]], defs=defs, prompt=prompt)
    if "anyOf" in schema:
        return instance_of(schema["anyOf"][0], defs=defs, prompt=prompt)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: instance_of(sub, defs=defs, prompt=prompt) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        items = schema.get("items", {})
        if "enum" in items:
            words = set(prompt.lower().replace(",", " ").replace(".", " ").split())
            named = [value for value in items["enum"] if str(value) in words]
            return named or [items["enum"][0]]
        return [instance_of(items, defs=defs, prompt=prompt)]
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "A fake summary from the fake model."


class FakeOpenAI:
    """The server: `url` (the SDK's base_url), `requests`, `script(endpoint, *behaviours, then=...)`.

    Use as a context manager, or call `start()` / `stop()`. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Behaviour]] = {name: deque() for name in ENDPOINTS.values()}
        self._defaults: dict[str, Behaviour] = {name: OK for name in ENDPOINTS.values()}
        self._requests: list[ReceivedRequest] = []
        self._strict: tuple[int, float] | None = None
        #: Arrival times of the requests accepted in the current strict window.
        self._accepted: deque[float] = deque()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, name="fake-openai", daemon=True
        )
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (idempotent); hanging handlers are released."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, endpoint: Endpoint, *behaviours: Behaviour, then: Behaviour | None = None) -> None:
        """Queue `behaviours` for the next requests to `endpoint`; `then` replaces the default after them."""
        if endpoint not in self._scripts:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {', '.join(self._scripts)}")
        with self._lock:
            self._scripts[endpoint].extend(behaviours)
            if then is not None:
                self._defaults[endpoint] = then

    def strict(self, limit: int, *, window_seconds: float = 60.0) -> None:
        """Answer 429 (with Retry-After) past `limit` accepted requests in any `window_seconds`, across endpoints."""
        with self._lock:
            self._strict = (limit, window_seconds)
            self._accepted.clear()

    def _over_quota(self, now: float) -> float | None:
        """Strict mode: None if the request fits the window (and counts it), else seconds until it would."""
        with self._lock:
            if self._strict is None:
                return None
            limit, window = self._strict
            while self._accepted and self._accepted[0] <= now - window:
                self._accepted.popleft()
            if len(self._accepted) < limit:
                self._accepted.append(now)
                return None
            return self._accepted[0] + window - now

    def max_in_window(self, window_seconds: float, *, endpoint: Endpoint | None = None) -> int:
        """The most requests received (accepted or not) in any sliding window of `window_seconds`."""
        times = sorted(r.received_at for r in self.requests if endpoint is None or r.endpoint == endpoint)
        most = 0
        first = 0
        for last, at in enumerate(times):
            while times[first] <= at - window_seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: Endpoint) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def _next(self, endpoint: str) -> Behaviour:
        with self._lock:
            script = self._scripts[endpoint]
            return script.popleft() if script else self._defaults[endpoint]

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the request log is `FakeOpenAI.requests`."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                endpoint = ENDPOINTS.get(self.path)
                if endpoint is None:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                arrived = time.monotonic()
                wait = server._over_quota(arrived)
                behaviour = server._next(endpoint) if wait is None else _quota_exceeded(wait)
                server._record(
                    ReceivedRequest(
                        endpoint=endpoint,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        behaviour=behaviour,
                        received_at=arrived,
                    )
                )
                if isinstance(behaviour, Hang):
                    server._stopping.wait(behaviour.seconds)
                    behaviour = OK
                if isinstance(behaviour, Fail):
                    headers = {}
                    if behaviour.retry_after is not None:
                        headers["Retry-After"] = behaviour.retry_after
                    if behaviour.retry_after_ms is not None:
                        headers["retry-after-ms"] = behaviour.retry_after_ms
                    error = {"message": behaviour.message, "type": "scripted_error", "code": str(behaviour.status)}
                    self._send(behaviour.status, {"error": error}, headers)
                    return
                if endpoint == "embeddings":
                    size = behaviour.dimensions if isinstance(behaviour, Ok) else None
                    self._send(200, embeddings_answer(body, dimensions=size))
                else:
                    self._send(200, chat_answer(body, behaviour if isinstance(behaviour, Answer) else None))

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # The client gave up (a timeout test): nothing to answer.

        return Handler


def _quota_exceeded(wait: float) -> Fail:
    """The strict mode's 429: Retry-After in whole seconds (rounded up) and in milliseconds."""
    return Fail(
        429,
        retry_after=str(max(1, math.ceil(wait))),
        retry_after_ms=str(max(1, math.ceil(wait * 1000))),
        message="Rate limit reached for requests",
    )


def embeddings_answer(body: dict[str, Any], *, dimensions: int | None = None) -> dict[str, Any]:
    """An embeddings list for `body["input"]`, in reverse order (the client must sort by `index`)."""
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    dimensions = dimensions or int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    data = []
    for index, text in enumerate(texts):
        vector = fake_vector(str(text), dimensions)
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(np.asarray(vector, dtype="float32").tobytes()).decode()
        else:
            encoded = vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data[::-1],
        "model": body.get("model", ""),
        "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
    }


def chat_answer(body: dict[str, Any], answer: Answer | None) -> dict[str, Any]:
    """A `chat.completion`; with a `json_schema` response format, content is JSON fitting the schema."""
    refusal = answer.refusal if answer else None
    if answer is not None and answer.content is not None:
        content: str | None = answer.content if isinstance(answer.content, str) else json.dumps(answer.content)
    elif refusal:
        content = None
    else:
        response_format = body.get("response_format") or {}
        prompt = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        if response_format.get("type") == "json_schema":
            schema = response_format["json_schema"]["schema"]
            content = json.dumps(instance_of(schema, defs=schema.get("$defs", {}), prompt=str(prompt)))
        else:
            content = "A fake answer."
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": answer.finish_reason if answer else "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def openai_settings(server: FakeOpenAI, base: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A `GIFTING_JOBS` dict: `base` with both providers on OpenAI, pointed at `server`.

    A new dict, so `get_settings()` (cached per dict object) re-reads it under `override_settings`.
    """
    return {
        **base,
        "EMBEDDING_PROVIDER": "openai",
        "ENRICHMENT_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test-fake",
        "OPENAI_BASE_URL": server.url,
        "OPENAI_TIMEOUT_SECONDS": 5.0,
        **overrides,
    }
