"""A fault-injecting OpenAI-compatible chat server on 127.0.0.1, for tests and the reliability
report (scripts/reliability_report.py).

Each request draws its fate from a seeded RNG and per-class rates: `429` (with Retry-After),
`500`, `503`, `reset` (the connection is closed without a reply), `hang` (no reply for
`hang_s`), `trickle` (a valid reply sent one byte every `trickle_s`), `truncated` (a JSON
body cut in half), `nonjson` (200 with an HTML body), `401` (authentication). A message is
faulted at most `max_faults` times (then answered), so retries end; `401` at rate 1.0 is
the expired key. Replies are `reply(message)` (default: a verifier verdict in JSON).
Everything is counted: attempts and faults per message and class, complete replies per
message (a message answered twice was re-sent after it completed), and the peak number of
requests in flight (a request whose client hung up, having timed out, no longer counts).

    python -c "from tests.fault_server import serve; ..."
"""

from __future__ import annotations

import contextlib
import json
import random
import select
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLASSES = ("429", "500", "503", "reset", "hang", "trickle", "truncated", "nonjson", "401")


def verdict_reply(message: str) -> str:
    return json.dumps({"verdict": "Correct", "reason": "The reasoning supports the gold answer."})


class State:
    def __init__(self, rates: dict[str, float], seed: int, max_faults: int, hang_s: float,
                 trickle_s: float, reply: Callable[[str], str]):
        self.rates, self.rng, self.max_faults = rates, random.Random(seed), max_faults
        self.hang_s, self.trickle_s, self.reply = hang_s, trickle_s, reply
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        self.attempts: Counter = Counter()  # message -> attempts
        self.faulted: Counter = Counter()  # message -> faults injected
        self.injected: Counter = Counter()  # class -> faults injected
        self.answered: Counter = Counter()  # message -> complete valid replies sent
        self.fault_of: dict[str, list[str]] = defaultdict(list)

    def draw(self, message: str) -> str | None:
        with self.lock:
            self.attempts[message] += 1
            if self.faulted[message] >= self.max_faults and self.rates.get("401", 0) < 1:
                return None
            u, acc = self.rng.random(), 0.0
            for cls in CLASSES:
                acc += self.rates.get(cls, 0.0)
                if u < acc:
                    self.faulted[message] += 1
                    self.injected[cls] += 1
                    self.fault_of[message].append(cls)
                    return cls
            return None


class Handler(BaseHTTPRequestHandler):
    state: State
    protocol_version = "HTTP/1.1"

    def log_message(self, *a) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json",
              headers: tuple = (), trickle: float = 0.0) -> bool:
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            if trickle:
                for i in range(len(body)):
                    if self._client_gone():
                        return False
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(trickle)
            else:
                self.wfile.write(body)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _client_gone(self) -> bool:
        """The client closed its end (it timed out and moved on), as a real server notices:
        a request it abandoned is no longer in flight."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_POST(self) -> None:
        st = self.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        msg = body["messages"][-1]["content"]
        with st.lock:
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
        try:
            self._answer(msg, body, st.draw(msg))
        finally:
            with st.lock:
                st.inflight -= 1

    def _answer(self, msg: str, body: dict, fault: str | None) -> None:
        st = self.state
        if fault == "429":
            self._send(429, b'{"error": {"message": "rate limited"}}', headers=[("Retry-After", "0")])
        elif fault in ("500", "503"):
            self._send(int(fault), b'{"error": {"message": "server error"}}')
        elif fault == "401":
            self._send(401, b'{"error": {"message": "Incorrect API key provided"}}')
        elif fault == "reset":
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                self.connection.close()
        elif fault == "hang":
            end = time.monotonic() + st.hang_s
            while time.monotonic() < end and not self._client_gone():
                time.sleep(0.01)
        elif fault == "nonjson":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", ctype="text/html")
        else:
            out = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": st.reply(msg)}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}}).encode()
            if fault == "truncated":
                self._send(200, out[:len(out) // 2] + b" " * (len(out) - len(out) // 2))
            elif self._send(200, out, trickle=st.trickle_s if fault == "trickle" else 0.0):
                with st.lock:  # a trickled reply that did arrive whole counts too
                    st.answered[msg] += 1


@contextlib.contextmanager
def serve(rates: dict[str, float] | None = None, *, seed: int = 0, max_faults: int = 2,
          hang_s: float = 3.0, trickle_s: float = 0.5,
          reply: Callable[[str], str] = verdict_reply, port: int = 0) -> Iterator[tuple[str, State]]:
    """Run the server in a thread; yields (base_url, state). `port`: a fixed one, so runs
    against successive servers share a base_url (part of every cache key)."""
    state = State(rates or {}, seed, max_faults, hang_s, trickle_s, reply)
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", port), type("H", (Handler,), {"state": state}))
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1", state
    finally:
        srv.shutdown()
        srv.server_close()
