"""TrafficRouter edges, on real sockets: a backend removed while a request is in flight, answers
without a body (HEAD, 204, 304, 1xx), shadow comparison of v2 answers and sampled mirroring, the
body size limit, and a timed-out keep-alive connection.

Replicas are real model servers where a model server can produce the case; where it cannot (a
replica dropping a connection at a chosen moment, an interim 1xx, a replica that stops answering
on a kept connection) the replica is a raw socket server in a thread that writes those bytes.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlops.assignment import hash_point
from mlops.models.deployment import Backend, TrafficRouter
from mlops.models.serving import ModelServing
from mlops.models.serving.server import serve_in_thread

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@contextmanager
def running(app: Any) -> Iterator[str]:
    """``app`` (the router, or a small replica app) on uvicorn in a thread; its base URL."""
    server, thread, sock = serve_in_thread(app, "127.0.0.1", 0, 5.0, name="test-router")
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class RawReplica:
    """A replica that is a plain socket server: ``handle(conn)`` writes whatever bytes a case
    needs, one connection at a time, in a thread."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.handle = handle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed: the replica stopped
            with conn:
                self.handle(conn)

    def close(self) -> None:
        self.listener.close()


def read_request(conn: socket.socket) -> bytes:
    """One request from ``conn`` (the router always sends Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    length = int(lengths[0].split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)
    return head


def predict_body(iris: tuple[pd.DataFrame, Any]) -> bytes:
    return iris[0].iloc[[0, 60, 120]].to_json(orient="records").encode()


# --- a backend removed mid-request ---------------------------------------------------------------


def test_slow_body_during_a_rollback_goes_where_the_table_says(
    start_server: Callable[..., ModelServing],
    iris: tuple[pd.DataFrame, Any],
    iris_model: Any,
    iris_tree: Any,
) -> None:
    stable = start_server("models:/iris/1")
    canary = start_server("models:/iris/2")
    stable_backend = Backend("stable", [stable.url], 1.0)
    router = TrafficRouter([stable_backend, Backend("canary", [canary.url], 1.0)], timeout=5)
    router.set_weights({"stable": 0.0})  # all traffic to the canary
    body = predict_body(iris)
    with running(router) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(
                b"POST /predict HTTP/1.1\r\nhost: router\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(0.3)  # the router has the head and waits for the rest of the body
            router.set_backends([stable_backend])  # the canary is rolled back...
            canary.stop()  # ...and its replica stops, while the upload is still arriving
            client.sendall(body[10:])
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 200"), answer
    assert "x-served-by: stable" in head
    assert router.window("canary").errors == 0


def test_a_request_in_flight_to_a_removed_backend_is_sent_to_the_current_table(
    start_server: Callable[..., ModelServing], iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> None:
    stable = start_server("models:/iris/1")
    received, removed = threading.Event(), threading.Event()

    def stopped_mid_request(conn: socket.socket) -> None:
        read_request(conn)
        received.set()
        removed.wait(10)  # then the connection closes unanswered: the replica was stopped

    canary = RawReplica(stopped_mid_request)
    stable_backend = Backend("stable", [stable.url], 1.0)
    router = TrafficRouter([stable_backend, Backend("canary", [canary.url], 1.0)], timeout=5)
    router.set_weights({"stable": 0.0})
    try:
        with running(router) as url, httpx.Client(base_url=url, timeout=20) as client:
            result: list[httpx.Response] = []
            sender = threading.Thread(
                target=lambda: result.append(client.post("/predict", content=predict_body(iris)))
            )
            sender.start()
            assert received.wait(10)
            router.set_backends([stable_backend])
            canary.close()
            removed.set()
            sender.join(20)
    finally:
        canary.close()
        removed.set()
    assert result[0].status_code == 200, result[0].text
    assert result[0].headers["x-served-by"] == "stable"
    # The canary left the table: the dropped connection is not its error.
    assert router.window("canary").requests == 0
    assert router.window("stable").requests == 1


# --- answers without a body ----------------------------------------------------------------------


def test_head_and_bodyless_answers_do_not_wait_for_a_body(
    start_server: Callable[..., ModelServing], iris_model: Any
) -> None:
    async def no_content(_: Request) -> Response:
        return Response(status_code=204)

    async def not_modified(_: Request) -> Response:
        return Response(status_code=304, headers={"etag": '"v1"'})

    async def text(_: Request) -> Response:
        return Response("hello", media_type="text/plain")

    app = Starlette(
        routes=[
            Route("/empty", no_content, methods=["POST", "DELETE"]),
            Route("/cached", not_modified),
            Route("/text", text),  # GET, so HEAD too
        ]
    )
    model = start_server("models:/iris/1")
    with running(app) as plain:
        # A 2 s timeout: without the fix each of these waited for it, then answered 503.
        router = TrafficRouter([Backend("plain", [plain], 1.0)], timeout=2)
        with running(router) as url, httpx.Client(base_url=url, timeout=10) as client:
            started = time.monotonic()
            head = client.head("/text")
            assert (head.status_code, head.content) == (200, b"")
            assert head.headers["content-length"] == "5"  # the GET's length, as HEAD says
            assert client.post("/empty").status_code == 204
            assert client.delete("/empty").status_code == 204
            cached = client.get("/cached")
            assert (cached.status_code, cached.headers["etag"]) == (304, '"v1"')
            # The kept connection is still in step: the next answer is the right one.
            assert client.get("/text").text == "hello"
            assert time.monotonic() - started < 1.5
        window = router.window("plain")
        assert (window.requests, window.errors) == (5, 0)

    router = TrafficRouter([Backend("model", [model.url], 1.0)], timeout=2)
    with running(router) as url, httpx.Client(base_url=url, timeout=10) as client:
        head = client.head("/health")
        assert head.status_code < 500
        assert head.content == b""
        assert client.get("/health").json() == {"status": "ok"}


def test_an_interim_1xx_answer_is_skipped() -> None:
    def early_hints(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        )

    replica = RawReplica(early_hints)
    try:
        router = TrafficRouter([Backend("raw", [replica.url], 1.0)], timeout=2)
        with running(router) as url:
            response = httpx.get(f"{url}/x", timeout=10)
    finally:
        replica.close()
    assert (response.status_code, response.text) == (200, "ok")


# --- shadows -------------------------------------------------------------------------------------


def _v2_body(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(frame), 1], "datatype": "FP64", "data": frame[c].tolist()}
            for c in COLUMNS
        ]
    }


def _settled(router: TrafficRouter, name: str, requests: int) -> None:
    """Wait until ``name``'s window holds ``requests`` (mirrors run after the answer)."""
    deadline = time.monotonic() + 20
    while router.window(name).requests < requests and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # and no more arrive


def test_a_shadow_is_compared_on_v2_outputs(
    start_server: Callable[..., ModelServing],
    iris: tuple[pd.DataFrame, Any],
    iris_model: Any,
    iris_tree: Any,
) -> None:
    live = start_server("models:/iris/1")
    shadow = start_server("models:/iris/2")  # a depth-1 tree: disagrees on some rows
    rows = [[i] for i in range(0, 150, 10)]
    expected_agreed = 0
    for row in rows:
        frame = iris[0].iloc[row]
        answers = [
            httpx.post(f"{s.url}/v2/models/iris/infer", json=_v2_body(frame)).json()["outputs"]
            for s in (live, shadow)
        ]
        expected_agreed += answers[0][0]["data"] == answers[1][0]["data"]
    assert 0 < expected_agreed < len(rows)

    router = TrafficRouter([Backend("stable", [live.url], 1.0)])
    router.set_shadow(Backend("shadow", [shadow.url], 0.0))
    with running(router) as url, httpx.Client(base_url=url, timeout=20) as client:
        for row in rows:
            response = client.post("/v2/models/iris/infer", json=_v2_body(iris[0].iloc[row]))
            assert response.status_code == 200, response.text
        assert client.get("/v2/models/iris").status_code == 200  # metadata: not compared
        _settled(router, "shadow", len(rows) + 1)
    window = router.window("shadow")
    assert window.requests == len(rows) + 1
    assert (window.compared, window.agreed) == (len(rows), expected_agreed)


def test_a_shadow_gets_its_percent_of_the_requests_sticky_by_key(
    start_server: Callable[..., ModelServing], iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> None:
    live = start_server("models:/iris/1")
    router = TrafficRouter([Backend("stable", [live.url], 1.0)])
    router.set_shadow(Backend("shadow", [live.url], 0.0), 30.0)
    keys = [f"user-{i}" for i in range(120)]
    mirrored = [k for k in keys if hash_point(k) < 0.30]
    body = predict_body(iris)
    with running(router) as url, httpx.Client(base_url=url, timeout=20) as client:
        for key in keys:
            response = client.post("/predict", content=body, headers={"X-Routing-Key": key})
            assert response.status_code == 200, response.text
        _settled(router, "shadow", len(mirrored))
    window = router.window("shadow")
    assert 0 < len(mirrored) < len(keys)
    assert window.requests == window.compared == window.agreed == len(mirrored)
    with pytest.raises(Exception, match="between 0 and 100"):
        router.set_shadow(None, 150.0)


# --- the body size limit -------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_as_it_arrives(
    start_server: Callable[..., ModelServing], iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> None:
    live = start_server("models:/iris/1")
    body = predict_body(iris)
    router = TrafficRouter([Backend("stable", [live.url], 1.0)], max_body_size=len(body))
    with running(router) as url, httpx.Client(base_url=url, timeout=20) as client:
        assert client.post("/predict", content=body).status_code == 200
        too_big = client.post("/predict", content=body + b" ")
        assert too_big.status_code == 413
        assert too_big.json()["error"]["type"] == "PayloadTooLargeError"
        # Chunked (no declared length): refused once the stream passes the limit.
        streamed = client.post("/predict", content=iter([body, b" " * 100]))
        assert streamed.status_code == 413
        # A declared 10 GB upload is refused at once, not buffered.
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(
                b"POST /predict HTTP/1.1\r\nhost: r\r\ncontent-length: 10000000000\r\n\r\n{"
            )
            assert raw.recv(65536).startswith(b"HTTP/1.1 413")
    assert router.window("stable").requests == 1


# --- a timed-out kept connection -----------------------------------------------------------------


def test_a_timeout_on_a_kept_connection_closes_it() -> None:
    closed = threading.Event()

    def answers_once(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")  # kept alive
        read_request(conn)  # the second request is never answered...
        conn.settimeout(5)
        try:
            if conn.recv(1) == b"":  # ...and the router must hang up
                closed.set()
        except OSError:
            pass

    replica = RawReplica(answers_once)
    router = TrafficRouter([Backend("raw", [replica.url], 1.0)], timeout=0.5)
    gc.disable()  # an unclosed socket would otherwise be closed by chance, by the collector
    try:
        with running(router) as url, httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/x").text == "ok"
            assert client.get("/x").status_code == 503
            assert closed.wait(3)
    finally:
        gc.enable()
        replica.close()
