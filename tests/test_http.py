"""HTTP API: every route, every bad payload, limits, API key, errors, micro-batching, and one real
uvicorn server on localhost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from scamdetect import load  # noqa: E402
from scamdetect.detector import MAX_CHARS  # noqa: E402
from scamdetect.outputs.http import API_KEY_HEADER, Settings, create_app  # noqa: E402
from scamdetect.outputs.microbatch import MicroBatcher  # noqa: E402

from conftest import NOT_SCAMS, SCAMS, write_jsonl  # noqa: E402

LIMITS = Settings(max_posts=4, max_chars=300, max_records=5, max_body_bytes=20_000)


@pytest.fixture(scope="module")
def det(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    return load(tiny_model_dir)


@pytest.fixture(scope="module")
def client(det) -> Any:  # type: ignore[no-untyped-def]
    with TestClient(create_app(LIMITS, detector=det)) as c:
        yield c


@pytest.fixture(scope="module")
def keyed(det) -> Any:  # type: ignore[no-untyped-def]
    with TestClient(create_app(Settings(api_key="s3cret-kunci"), detector=det)) as c:
        yield c


def assert_error(r: Any, status: int, code: str, *words: str) -> dict[str, Any]:
    """The response is our JSON error: status, code, a message naming what went wrong, no internals."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code, err
    for w in words:
        assert w in err["message"], err["message"]
    assert "Traceback" not in r.text and ".py" not in r.text
    return err


# -- routes -------------------------------------------------------------------------------------

def test_health(client: Any) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "model_id": "tiny-test", "version": r.json()["version"]}


def test_model_is_the_manifest(client: Any, det: Any) -> None:
    r = client.get("/v1/model")
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(det.manifest))
    assert r.json()["kind"] == "tfidf" and "files" in r.json()


def test_score_returns_the_library_fields_in_order(client: Any, det: Any) -> None:
    posts = [{"id": "a", "text": SCAMS[0], "metadata": {"platform": "facebook", "url": "https://fb.example/1"}},
             {"id": 7, "text": NOT_SCAMS[0]}, {"text": SCAMS[1]}]
    r = client.post("/v1/score", json={"posts": posts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_id"] == "tiny-test"
    preds = det.predict([p["text"] for p in posts])
    for post, res, pred in zip(posts, body["results"], preds):
        assert res["id"] == post.get("id") and res["metadata"] == post.get("metadata")
        expected = json.loads(json.dumps(pred.to_row()))
        assert {k: v for k, v in res.items() if k not in ("id", "metadata")} == expected
    assert body["results"][0]["label"] == "scam" and body["results"][1]["label"] == "not_scam"
    assert body["results"][0]["red_flags"] == [x["rule"] for x in body["results"][0]["reasons"]]


def test_score_fields_same_as_scamdetect_score(client: Any, tiny_model_dir: Path, tmp_path: Path) -> None:
    """The API and the batch command add the same fields with the same values."""
    from scamdetect.outputs import score_file

    texts = [SCAMS[2], NOT_SCAMS[1], SCAMS[4]]
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "text": t} for i, t in enumerate(texts)])
    score_file(src, tmp_path / "out.jsonl", model=tiny_model_dir)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    r = client.post("/v1/score", json={"posts": [{"id": str(i), "text": t} for i, t in enumerate(texts)]})
    for row, res in zip(rows, r.json()["results"]):
        added = {k: v for k, v in row.items() if k not in ("id", "text")}
        assert {k: v for k, v in res.items() if k not in ("id", "metadata")} == added


def test_score_top_terms(client: Any) -> None:
    none = client.post("/v1/score", json={"posts": [{"text": SCAMS[0]}], "top_terms": 0}).json()["results"][0]
    two = client.post("/v1/score", json={"posts": [{"text": SCAMS[0]}], "top_terms": 2}).json()["results"][0]
    assert none["terms"] == [] and 0 < len(two["terms"]) <= 2


def test_openapi_documents_every_route(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/report", "/v1/model", "/health"} <= set(spec["paths"])
    assert "ScoreRequest" in spec["components"]["schemas"] and "ScoredPost" in spec["components"]["schemas"]
    assert "422" in spec["paths"]["/v1/score"]["post"]["responses"]
    assert client.get("/docs").status_code == 200


def _scored_records(client: Any, posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    res = client.post("/v1/score", json={"posts": posts}).json()["results"]
    return [{**r, "text": p["text"]} for r, p in zip(res, posts)]


def test_report_from_scored_items(client: Any) -> None:
    posts = [{"id": "p1", "text": SCAMS[0], "metadata": {"platform": "facebook", "url": "https://fb.example/p1",
                                                        "account": "@rekrut1", "captured_at": "2026-11-20T10:00:00+07:00"}},
             {"id": "p2", "text": SCAMS[1], "metadata": {"platform": "telegram", "account": "@rekrut_asia"}},
             {"id": "p3", "text": NOT_SCAMS[0]}]
    recs = _scored_records(client, posts)
    r = client.post("/v1/report", json={"records": recs})
    assert r.status_code == 200, r.text
    rep = r.json()
    assert {"report", "campaigns", "rows"} <= set(rep)
    ids = {row["id"] for row in rep["rows"]}
    assert ids == {x["id"] for x in recs if x["label"] == "scam"} and "p3" not in ids
    p1 = next(row for row in rep["rows"] if row["id"] == "p1")
    assert p1["post_url"] == "https://fb.example/p1" and p1["platform"] == "facebook"  # metadata read as row fields
    # a reviewer's rejection leaves the report
    r = client.post("/v1/report", json={"records": recs, "decisions": {"p1": "rejected"}})
    assert "p1" not in {row["id"] for row in r.json()["rows"]}
    # min_score 1.0 keeps nothing
    assert client.post("/v1/report", json={"records": recs, "min_score": 1.0}).json()["rows"] == []


@pytest.mark.parametrize("change, words", [
    (lambda r: r.pop("score"), ["missing required field", "'score'"]),
    (lambda r: r.pop("text"), ["'text'"]),
    (lambda r: r.update(model_id="someone-elses-model"), ["not a known model"]),
    (lambda r: r.update(threshold=0.123), ["unknown version"]),
    (lambda r: r.update(reasons="lots"), ["'reasons'"]),
])
def test_report_bad_records(client: Any, change: Any, words: list[str]) -> None:
    recs = _scored_records(client, [{"id": "q1", "text": SCAMS[3]}])
    change(recs[0])
    assert_error(client.post("/v1/report", json={"records": recs}), 422, "invalid_records", *words)


def test_report_bad_decision_and_limits(client: Any) -> None:
    recs = _scored_records(client, [{"id": "d1", "text": SCAMS[5]}])
    assert_error(client.post("/v1/report", json={"records": recs, "decisions": {"d1": "maybe"}}), 422,
                 "invalid_records", "unknown decision")
    assert_error(client.post("/v1/report", json={"records": recs * 6}), 422, "too_many_records", "6", "5")
    assert_error(client.post("/v1/report", json={"records": []}), 422, "invalid_request", "records")
    assert_error(client.post("/v1/report", json={"records": recs, "min_score": 2}), 422, "invalid_request",
                 "min_score")


# -- bad payloads and limits ----------------------------------------------------------------------

BAD_BODIES = [
    (b"", "invalid_json", "not valid JSON"),
    (b"not json", "invalid_json", "not valid JSON"),
    (b'{"posts": [', "invalid_json", "not valid JSON"),
    (b"[]", "invalid_request", "JSON object"),
    (b'"text"', "invalid_request", "JSON object"),
    (b"{}", "invalid_request", "posts: Field required"),
    (b'{"posts": []}', "invalid_request", "posts"),
    (b'{"posts": "Loker Kamboja"}', "invalid_request", "posts"),
    (b'{"posts": ["Loker Kamboja"]}', "invalid_request", "posts.0"),
    (b'{"posts": [{}]}', "invalid_request", "posts.0.text: Field required"),
    (b'{"posts": [{"text": 12}]}', "invalid_request", "posts.0.text"),
    (b'{"posts": [{"text": null}]}', "invalid_request", "posts.0.text"),
    (b'{"posts": [{"text": ""}]}', "invalid_request", "empty text"),
    (b'{"posts": [{"text": "  \\n "}]}', "invalid_request", "empty text"),
    (b'{"posts": [{"text": "ok \\ud800"}]}', "invalid_json", "hex escape"),  # lone surrogate
    (b'{"posts": [{"text": "ok", "metadata": {"a": "\\udfff"}}]}', "invalid_json", "surrogate"),
    (b'{"posts": [{"text": "ok"}]} trailing', "invalid_json", "trailing"),
    (b'{"posts": [{"text": "ok", "metadata": {"n": 123456789012345678901234567890}}]}', "invalid_request", "64 bits"),
    (b'{"posts": [{"text": "ok", "metadata": "facebook"}]}', "invalid_request", "posts.0.metadata"),
    (b'{"posts": [{"text": "ok", "id": 1.5}]}', "invalid_request", "id must be a string or a 64-bit integer"),
    (b'{"posts": [{"text": "ok", "id": true}]}', "invalid_request", "id must be"),
    (b'{"posts": [{"text": "ok", "id": 123456789012345678901234567890}]}', "invalid_request", "id must be"),
    (b'{"posts": [{"text": "ok", "colour": "red"}]}', "invalid_request", "colour"),
    (b'{"posts": [{"text": "ok"}], "extra": 1}', "invalid_request", "extra"),
    (b'{"posts": [{"text": "ok"}], "top_terms": -1}', "invalid_request", "top_terms"),
    (b'{"posts": [{"text": "ok"}], "top_terms": 1000}', "invalid_request", "top_terms"),
]


@pytest.mark.parametrize("body, code, words", BAD_BODIES, ids=[b.decode()[:40] for b, _, _ in BAD_BODIES])
def test_bad_score_payloads(client: Any, body: bytes, code: str, words: str) -> None:
    r = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert_error(r, 422, code, words)


def test_content_type(client: Any) -> None:
    body = b'{"posts": [{"text": "ok"}]}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        assert_error(client.post("/v1/score", content=body, headers={"content-type": ctype}), 415,
                     "unsupported_media_type", "application/json")
    assert_error(client.post("/v1/report", content=b"{}", headers={"content-type": "text/plain"}), 415,
                 "unsupported_media_type")
    for ctype in ("application/json; charset=utf-8", "application/vnd.api+json", None):
        headers = {"content-type": ctype} if ctype else {}
        assert client.post("/v1/score", content=body, headers=headers).status_code == 200


def test_post_model_refuses_lone_surrogates() -> None:
    """Parsers other than the API's own may let them through: the model checks too."""
    from pydantic import ValidationError

    from scamdetect.outputs.http_schema import Post

    with pytest.raises(ValidationError, match="lone surrogate"):
        Post.model_validate({"text": "ok \ud800"})
    with pytest.raises(ValidationError, match="cannot be returned as JSON"):
        Post.model_validate({"text": "ok", "metadata": {"a": "\udfff"}})


def test_too_many_posts(client: Any) -> None:
    err = assert_error(client.post("/v1/score", json={"posts": [{"text": "ok"}] * 5}), 422, "too_many_posts",
                       "5 in this request", "limit is 4")
    assert err["limit"] == 4
    assert client.post("/v1/score", json={"posts": [{"text": "ok"}] * 4}).status_code == 200


def test_text_too_long(client: Any) -> None:
    err = assert_error(client.post("/v1/score", json={"posts": [{"text": "ok"}, {"text": "x" * 301}]}), 422,
                       "text_too_long", "posts.1.text", "301", "300")
    assert err["limit"] == 300
    assert client.post("/v1/score", json={"posts": [{"text": "x" * 300}]}).status_code == 200


def test_body_too_large_by_content_length(client: Any) -> None:
    body = json.dumps({"posts": [{"text": "ok", "metadata": {"pad": "x" * 25_000}}]}).encode()
    err = assert_error(client.post("/v1/score", content=body, headers={"content-type": "application/json"}),
                       413, "body_too_large", "20,000 bytes")
    assert err["limit"] == 20_000


def test_body_too_large_when_chunked(client: Any) -> None:
    def chunks():  # no Content-Length: the limit is counted as the body arrives
        yield b'{"posts": [{"text": "ok", "metadata": {"pad": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}}]}'

    r = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "body_too_large", "limit is 20,000")


def test_unknown_route_and_method(client: Any) -> None:
    assert_error(client.get("/v2/score"), 404, "not_found")
    assert_error(client.get("/v1/score"), 405, "method_not_allowed")


def test_internal_errors_stay_inside(det: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        model_id, manifest = "broken", {"format_version": 1, "kind": "tfidf"}

        def predict(self, texts: Any, top_terms: int = 5) -> Any:
            raise RuntimeError("secret detail /srv/models/weights.npz")

    with TestClient(create_app(Settings(), detector=Broken()), raise_server_exceptions=False) as c:  # type: ignore[arg-type]
        r = c.post("/v1/score", json={"posts": [{"text": "ok"}]})
    err = assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and "weights" not in r.text and "RuntimeError" not in r.text
    assert err["message"].startswith("internal error")
    assert "secret detail" in caplog.text  # ... but the server log has it


# -- API key ---------------------------------------------------------------------------------------

def test_api_key(keyed: Any) -> None:
    good = {API_KEY_HEADER: "s3cret-kunci"}
    assert keyed.post("/v1/score", json={"posts": [{"text": "ok"}]}, headers=good).status_code == 200
    assert keyed.get("/v1/model", headers=good).status_code == 200
    for headers in ({}, {API_KEY_HEADER: "wrong"}, {API_KEY_HEADER: ""}, {API_KEY_HEADER: "s3cret-kunci "},
                    {API_KEY_HEADER: "kunci-ñ".encode()}, {"Authorization": "Bearer s3cret-kunci"}):
        assert_error(keyed.post("/v1/score", json={"posts": [{"text": "ok"}]}, headers=headers), 401,
                     "unauthorized", API_KEY_HEADER)
        assert_error(keyed.get("/v1/model", headers=headers), 401, "unauthorized")
        assert_error(keyed.post("/v1/report", json={"records": [{}]}, headers=headers), 401, "unauthorized")
    assert keyed.get("/health").status_code == 200  # for load balancers: no key, no secrets


def test_key_is_checked_before_the_body(keyed: Any) -> None:
    assert_error(keyed.post("/v1/score", content=b"not json", headers={"content-type": "application/json"}), 401,
                 "unauthorized")


def test_api_key_in_openapi(keyed: Any) -> None:
    spec = keyed.get("/openapi.json").json()
    assert any(s.get("name") == API_KEY_HEADER for s in spec["components"]["securitySchemes"].values())


# -- settings -------------------------------------------------------------------------------------

def test_settings_from_env() -> None:
    s = Settings.from_env({"SCAMDETECT_API_KEY": "k", "SCAMDETECT_API_MAX_POSTS": "1_000", "SCAMDETECT_MODEL": "/m",
                           "SCAMDETECT_API_MAX_BODY_BYTES": "", "OTHER": "x"})
    assert (s.api_key, s.max_posts, s.model, s.max_body_bytes) == ("k", 1000, "/m", Settings().max_body_bytes)
    assert Settings.from_env({"SCAMDETECT_MODEL": "/m"}, model="/other").model == "/other"
    assert Settings.from_env({"SCAMDETECT_API_GC_FREEZE_SECONDS": "0"}).gc_freeze_seconds == 0  # 0: never


@pytest.mark.parametrize("env, words", [
    ({"SCAMDETECT_API_MAX_POSTS": "many"}, "SCAMDETECT_API_MAX_POSTS"),
    ({"SCAMDETECT_API_MAX_CHARS": "0"}, "max_chars"),
    ({"SCAMDETECT_API_MAX_CHARS": str(MAX_CHARS + 1)}, "cannot exceed"),
    ({"SCAMDETECT_API_KEY": "   "}, "api_key is empty"),
    ({"SCAMDETECT_API_GC_FREEZE_SECONDS": "-1"}, "gc_freeze_seconds"),
])
def test_bad_settings(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings.from_env(env)


def test_settings_are_read_when_the_app_is_built(det: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAMDETECT_API_KEY", "from-env")
    with TestClient(create_app(detector=det)) as c:
        assert c.get("/v1/model").status_code == 401
        assert c.get("/v1/model", headers={API_KEY_HEADER: "from-env"}).status_code == 200


def test_importing_scamdetect_does_not_import_fastapi() -> None:
    code = "import sys, scamdetect; scamdetect.load; assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- concurrency and micro-batching ------------------------------------------------------------

def test_concurrent_requests_get_their_own_results(det: Any) -> None:
    """Requests scored together in one batch each get their own posts' results, in order."""
    import httpx

    app = create_app(Settings(), detector=det)
    texts = [f"{t} #{i}" for i, t in enumerate((SCAMS + NOT_SCAMS) * 4)]

    async def main() -> list[Any]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                reqs = [c.post("/v1/score", json={"posts": [{"id": i, "text": t}, {"id": -i, "text": t[::-1]}]})
                        for i, t in enumerate(texts)]
                return await asyncio.gather(*reqs)

    responses = asyncio.run(main())
    for i, (t, r) in enumerate(zip(texts, responses)):
        assert r.status_code == 200
        res = r.json()["results"]
        assert [x["id"] for x in res] == [i, -i]
        assert [x["score"] for x in res] == [p.score for p in det.predict([t, t[::-1]])]


class _Recorder:
    """A fake detector that records the batches it is given; it fails on the text 'boom'."""

    model_id = "rec"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()

    def predict(self, texts: list[str], top_terms: int = 5) -> list[str]:
        self.gate.wait(5)
        self.batches.append(list(texts))
        if "boom" in texts:
            raise ValueError("boom")
        return [t.upper() for t in texts]


def test_microbatcher_merges_bounds_and_isolates_failures() -> None:
    rec = _Recorder()
    mb = MicroBatcher(rec, max_batch=4)  # type: ignore[arg-type]

    async def main() -> list[Any]:
        first = asyncio.ensure_future(mb.predict(["a"]))
        await asyncio.sleep(0.05)  # the scorer holds "a" at the gate; the rest queue behind it
        rest = [asyncio.ensure_future(mb.predict(x)) for x in (["b", "c"], ["boom"], ["d"], ["e", "f"])]
        await asyncio.sleep(0.05)
        rec.gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    out = asyncio.run(main())
    mb.close()
    assert out[0] == ["A"] and out[1] == ["B", "C"] and out[3] == ["D"] and out[4] == ["E", "F"]
    assert isinstance(out[2], RuntimeError) and "boom" not in str(out[2])  # only the bad request fails
    assert rec.batches[0] == ["a"]
    assert rec.batches[1] == ["b", "c", "boom", "d"]  # merged up to max_batch posts ...
    assert ["e", "f"] in rec.batches  # ... the next request waits for the next batch
    assert all(len(b) <= 4 for b in rec.batches)
    assert not mb._thread.is_alive()


def test_microbatcher_refuses_work_after_close() -> None:
    mb = MicroBatcher(_Recorder())  # type: ignore[arg-type]
    mb.close()
    with pytest.raises(RuntimeError):
        asyncio.run(mb.predict(["x"]))


# -- a real server ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uvicorn_server(tiny_model_dir: Path) -> None:
    """`scamdetect serve` on a free localhost port: scores over real HTTP, then shuts down cleanly."""
    port = _free_port()
    env = {**os.environ, "SCAMDETECT_API_KEY": "k-123", "SCAMDETECT_API_MAX_POSTS": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "scamdetect.cli", "serve", "--model", str(tiny_model_dir),
                             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers={API_KEY_HEADER: "k-123"}, timeout=10) as c:
            r = c.post("/v1/score", json={"posts": [{"id": "x", "text": SCAMS[0]}]})
            assert r.status_code == 200 and r.json()["results"][0]["label"] == "scam"
            assert c.post("/v1/score", json={"posts": [{"text": "ok"}] * 4}).json()["error"]["code"] == "too_many_posts"
            assert c.get("/v1/model").json()["model_id"] == "tiny-test"
        assert httpx.post(f"{base}/v1/score", json={"posts": [{"text": "ok"}]}).status_code == 401
    finally:
        proc.terminate()  # SIGTERM: uvicorn's graceful shutdown, lifespan included
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # uvicorn re-raises the signal once it has shut down cleanly
    assert proc.returncode in (0, -signal.SIGTERM), out.decode()
    assert b"Application shutdown complete" in out and b"Traceback" not in out


def test_serve_user_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from scamdetect.cli import main

    assert main(["serve", "--model", "/nonexistent/model"]) == 2
    assert "not found" in capsys.readouterr().err
    monkeypatch.setenv("SCAMDETECT_API_MAX_POSTS", "lots")
    assert main(["serve"]) == 2
    assert "SCAMDETECT_API_MAX_POSTS" in capsys.readouterr().err
