"""What every API answer promises: problem+json for every client error, never a 500;
health, metrics and the OpenAPI schema."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.testing import TEST_PASSWORD, api_token

SIGNUP = "/api/v1/auth/signup"
TOKEN = "/api/v1/auth/token"
JSON = {"content-type": "application/json"}


def assert_problem(response, status: int | None = None) -> dict:
    assert response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers["content-type"]
    body = response.json()
    assert body["status"] == response.status_code
    for key in ("title", "type", "detail"):
        assert isinstance(body[key], str) and body[key], body
    assert body["type"].startswith("https://")
    return body


# ---------------------------------------------------------------- client errors


BAD_BODIES = {
    "malformed json": (b'{"email": "a@example.com", "password": ', 400),
    "not an object": (b"[1, 2, 3]", 400),
    "empty body": (b"", 400),
    "wrong types": (json.dumps({"email": 42, "password": ["x"], "display_name": None}).encode(), 400),
    "unknown field": (json.dumps({"email": "a@example.com", "password": TEST_PASSWORD, "display_name": "A", "is_staff": True}).encode(), 400),
    "missing fields": (json.dumps({"email": "a@example.com"}).encode(), 400),
    "too long": (json.dumps({"email": "a" * 400 + "@example.com", "password": TEST_PASSWORD, "display_name": "A"}).encode(), 400),
}


async def test_bad_bodies_are_problem_json(zc_client):
    for endpoint in (SIGNUP, TOKEN):
        for label, (raw, status) in BAD_BODIES.items():
            if endpoint == TOKEN and label == "unknown field":
                raw = json.dumps({"email": "a@example.com", "password": TEST_PASSWORD, "remember": True}).encode()
            body = assert_problem(await zc_client.post(endpoint, content=raw, headers=JSON), status)
            assert body["instance"] == endpoint, label


async def test_validation_problems_name_the_field(zc_client):
    wrong = assert_problem(await zc_client.post(TOKEN, json={"email": 42, "password": "x"}), 400)
    assert wrong["errors"][0]["key"] == "email" and "str" in wrong["errors"][0]["message"]
    unknown = assert_problem(await zc_client.post(TOKEN, json={"email": "a@example.com", "password": "x", "remember": True}), 400)
    assert "remember" in unknown["errors"][0]["message"]
    missing = assert_problem(await zc_client.post(TOKEN, json={"email": "a@example.com"}), 400)
    assert "password" in missing["errors"][0]["message"]


async def test_structs_forbid_unknown_fields_on_guarded_endpoints_too(zc_client, zc_make_user):
    staff = await zc_make_user(staff=True)
    headers = await api_token(zc_client, staff.email)
    body = assert_problem(await zc_client.post("/api/v1/brands", json={"slug": "x", "name": "X", "verified": True}, headers=headers), 400)
    assert "verified" in body["errors"][0]["message"]
    assert_problem(await zc_client.post("/api/v1/brands", json={"slug": "x", "name": "X", "owner_id": "one"}, headers=headers), 400)
    assert_problem(await zc_client.post("/api/v1/brands", json={"slug": "x", "name": "X", "owner_id": 10**30}, headers=headers), 400)
    assert_problem(await zc_client.post("/api/v1/brands", json={"slug": "x", "name": "X\x00"}, headers=headers), 422)
    assert (await zc_client.get("/api/v1/brands/x")).status_code == 404


async def raw_post(app, path: str, chunks: list[bytes]) -> tuple[int, dict[bytes, bytes], bytes]:
    """One POST straight through ASGI: the body in chunks, no Content-Length (as with chunked encoding)."""
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver.local"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000), "server": ("testserver.local", 80), "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_oversized_body_is_413(zc_client, zc_runtime):
    limit = zc_runtime.settings.max_body_bytes
    assert limit == 1024 * 1024
    big = b'{"email": "' + b"a" * (limit + 1) + b'", "password": "x"}'
    for endpoint in (SIGNUP, TOKEN):
        assert_problem(await zc_client.post(endpoint, content=big, headers=JSON), 413)
    # streamed in chunks without a Content-Length, the limit holds as well
    status, headers, body = await raw_post(zc_client.app, TOKEN, [b"a" * (limit // 10)] * 20)
    assert status == 413 and headers[b"content-type"].startswith(b"application/problem+json")
    assert json.loads(body)["status"] == 413
    # just under the limit is parsed (and refused for what it says, not for its size)
    fits = b'{"email": "a@example.com", "password": "' + b"p" * (limit - 100) + b'"}'
    assert len(fits) <= limit
    assert_problem(await zc_client.post(TOKEN, content=fits, headers=JSON), 400)


async def test_oversized_form_on_html_surface_is_not_a_500(zc_client):
    await zc_client.get("/login")
    response = await zc_client.post(
        "/login", content=b"email=" + b"a" * (1024 * 1024 + 10), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="error-page"' in response.text


async def test_unknown_paths_and_methods(zc_client):
    body = assert_problem(await zc_client.get("/api/v1/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/no-such-thing"
    assert_problem(await zc_client.get("/api/v1/brands/no-such-brand"), 404)
    assert_problem(await zc_client.get("/api/v1/brands/a%00b"), 404)
    assert_problem(await zc_client.get(TOKEN), 405)
    assert_problem(await zc_client.delete("/api/v1/me"), 405)
    # the API answers problem+json even to a browser
    assert_problem(await zc_client.get("/api/v1/no-such-thing", headers={"accept": "text/html"}), 404)


async def test_query_parameters_are_validated(zc_client):
    for query in ("limit=0", "limit=101", "limit=abc", "offset=-1", "offset=9223372036854775808", "offset=99999999999999999999999"):
        assert_problem(await zc_client.get(f"/api/v1/brands?{query}"), 400)
    assert (await zc_client.get("/api/v1/brands?limit=100&offset=1000000000")).json()["items"] == []


# ---------------------------------------------------------------- no 5xx on nasty input

NASTY_BODIES: list[bytes] = [
    b"null", b"true", b"0", b'"string"', b"1e999999", b"-0", b"{}", b"[]", b"{" * 5000 + b"}" * 5000, b"[" * 5000,
    b"\xef\xbb\xbf{}", b'{"email": "\xff\xfe"}', b'{"email": "\\ud800", "password": "\\udfff"}',
    b'{"email": "a@example.com", "email": "b@example.com", "password": "xxxxxxxx"}',
    json.dumps({"email": "nul\x00@example.com", "password": "pass\x00word", "display_name": "N\x00"}).encode(),
    json.dumps({"email": "a@example.com", "password": "\x00" * 12, "display_name": "\x00"}).encode(),
    json.dumps({"email": "用户@例子.中国", "password": "密码密码密码密码", "display_name": "种草 🌱"}).encode(),
    json.dumps({"email": "a@example.com\n", "password": TEST_PASSWORD, "display_name": "A\r\nB"}).encode(),
    json.dumps({"email": "a@" + "b" * 300 + ".com", "password": TEST_PASSWORD, "display_name": "A"}).encode(),
    json.dumps({"email": "a@example.com", "password": TEST_PASSWORD, "display_name": "A", "locale": "\x00" * 20}).encode(),
    json.dumps({"email": "a@example.com", "password": TEST_PASSWORD, "display_name": "A", "creator": "yes"}).encode(),
    json.dumps({"email": "a@example.com", "password": 10**40}).encode(),
    json.dumps({"email": {"$ne": None}, "password": {"$gt": ""}}).encode(),
    json.dumps({"email": "' OR 1=1 --@example.com", "password": "' OR '1'='1"}).encode(),
]

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
_field = st.one_of(_json, st.text(max_size=300), st.emails(), st.text(min_size=8, max_size=40))
_shaped = st.fixed_dictionaries({}, optional={k: _field for k in ("email", "password", "display_name", "locale", "creator")})
_plausible = st.fixed_dictionaries(
    {"email": st.emails() | st.text(max_size=40), "password": st.text(min_size=8, max_size=64), "display_name": st.text(min_size=1, max_size=80)},
    optional={"locale": st.sampled_from(["en", "zh-CN"]) | st.text(max_size=12), "creator": st.booleans()},
)
_bodies = st.one_of(_plausible, _plausible, _shaped, _json).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200)


def hypothesis_bodies(count: int = 50) -> list[bytes]:
    """Bodies drawn by Hypothesis in a plain sync function, replayed later over HTTP."""
    found: list[bytes] = []

    @hsettings(max_examples=count, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(_bodies)
    def collect(body: bytes) -> None:
        found.append(body)

    collect()
    return found


def server_errors(caplog) -> str:  # noqa: ANN001
    """The tracebacks the app logged for its 500s, for the failure message."""
    import logging

    fmt = logging.Formatter()
    return "\n".join(r.getMessage() + "\n" + (fmt.formatException(r.exc_info) if r.exc_info else "") for r in caplog.records if r.name == "zhongcao.web")


async def test_fuzzed_auth_bodies_never_give_a_server_error(zc_client, zc_runtime, caplog):
    attempts = zc_runtime.stores.get("login_attempts")
    bodies = NASTY_BODIES + hypothesis_bodies()
    assert len(bodies) > 50
    statuses = set()
    for raw in bodies:
        for endpoint in (SIGNUP, TOKEN):
            response = await zc_client.post(endpoint, content=raw, headers=JSON)
            assert response.status_code < 500, (endpoint, raw[:200], response.text, server_errors(caplog))
            statuses.add(response.status_code)
            if response.status_code >= 400:
                assert_problem(response)
            await attempts.delete_all()  # keep the login throttle out of the way: reach the database every time
    assert {201, 400, 401, 422} <= statuses, statuses


async def test_nasty_html_form_input_is_not_a_server_error(zc_client):
    page = await zc_client.get("/signup")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    for email, name in (("nul\x00@example.com", "N"), ("a@example.com", "N\x00"), ("\x00", "\x00")):
        signup = await zc_client.post("/signup", data={"email": email, "display_name": name, "password": TEST_PASSWORD, "_csrf_token": token})
        assert signup.status_code == 422, signup.text
        login = await zc_client.post("/login", data={"email": email, "password": "pass\x00word", "_csrf_token": token})
        assert login.status_code == 401, login.text
    assert (await zc_client.get("/brands/a%00b")).status_code == 404


# ---------------------------------------------------------------- health, metrics, schema


async def test_health(zc_client):
    response = await zc_client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == "ok"
    assert response.json()["version"]


async def test_metrics_count_requests(zc_client):
    await zc_client.get("/api/v1/brands")
    await zc_client.get("/")
    response = await zc_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE zhongcao_requests_total counter" in response.text
    assert re.search(r'^zhongcao_requests_total\{[^}]*path="/api/v1/brands"[^}]*\} [1-9]', response.text, re.M)
    assert re.search(r'^zhongcao_request_duration_seconds_count\{[^}]*path="/"[^}]*\} [1-9]', response.text, re.M)


async def test_openapi_lists_the_api_only(zc_client):
    response = await zc_client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    assert {"/api/v1/auth/token", "/api/v1/auth/signup", "/api/v1/me", "/api/v1/brands", "/api/v1/brands/{slug}/members"} <= paths
    assert all(p.startswith("/api/v1/") for p in paths), paths
    for page in ("/login", "/signup", "/account", "/", "/creator", "/creator/login", "/health", "/metrics"):
        assert page not in paths
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    token_op = schema["paths"]["/api/v1/auth/token"]["post"]
    assert "requestBody" in token_op
