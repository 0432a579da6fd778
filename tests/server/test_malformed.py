"""Malformed requests against `tritium serve`: each gets the right status, OpenAI's error shape and a
message naming the problem, and the server keeps serving (a good request after every bad one).
Run by ctest (server_malformed): python test_malformed.py --tritium BIN --node-modules DIR --work DIR
"""
import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models as tm  # noqa: E402

KEY = "k-123"
AUTH = {"Authorization": "Bearer " + KEY}
MSG = [{"role": "user", "content": "hi"}]


def chat(**kw):
    return json.dumps({"messages": MSG, "max_tokens": 2, **kw}).encode()


# (name, method, path, body, extra headers, status, (param or None), text the message must contain)
CASES = [
    ("invalid JSON", "POST", "/v1/chat/completions", b'{"messages": [', {}, 400, None, "not valid JSON"),
    ("NaN literal", "POST", "/v1/chat/completions", b'{"messages": [], "temperature": NaN}', {}, 400, None, "JSON"),
    ("body is an array", "POST", "/v1/chat/completions", b"[1, 2]", {}, 400, None, "object"),
    ("empty body", "POST", "/v1/chat/completions", b"", {}, 400, None, ""),
    ("messages missing", "POST", "/v1/chat/completions", b'{"max_tokens": 2}', {}, 400, "messages", "messages"),
    ("messages empty", "POST", "/v1/chat/completions", b'{"messages": []}', {}, 400, "messages", "empty"),
    ("messages not an array", "POST", "/v1/chat/completions", b'{"messages": "hi"}', {}, 400, "messages", "array"),
    ("message not an object", "POST", "/v1/chat/completions", b'{"messages": [3]}', {}, 400, "messages[0]", "object"),
    ("unknown role", "POST", "/v1/chat/completions", json.dumps({"messages": [{"role": "wizard", "content": "x"}]}).encode(),
     {}, 400, "messages[0].role", "wizard"),
    ("content a number", "POST", "/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(),
     {}, 400, "messages[0].content", "string"),
    ("image content part", "POST", "/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x"}}]}]}).encode(), {}, 400, "messages[0].content[0].type", "image_url"),
    ("temperature a string", "POST", "/v1/chat/completions", chat(temperature="hot"), {}, 400, "temperature", "temperature"),
    ("temperature negative", "POST", "/v1/chat/completions", chat(temperature=-0.5), {}, 400, "temperature", "temperature"),
    ("temperature huge number", "POST", "/v1/chat/completions", b'{"messages": [{"role":"user","content":"x"}], "temperature": 1e999}',
     {}, 400, None, ""),
    ("top_p above 1", "POST", "/v1/chat/completions", chat(top_p=1.5), {}, 400, "top_p", "top_p"),
    ("max_tokens negative", "POST", "/v1/chat/completions", chat(max_tokens=-5), {}, 400, "max_tokens", "max_tokens"),
    ("max_tokens a float", "POST", "/v1/chat/completions", chat(max_tokens=2.5), {}, 400, "max_tokens", "max_tokens"),
    ("n huge", "POST", "/v1/chat/completions", chat(n=100000), {}, 400, "n", "n"),
    ("n zero", "POST", "/v1/chat/completions", chat(n=0), {}, 400, "n", "n"),
    ("stop a number", "POST", "/v1/chat/completions", chat(stop=7), {}, 400, "stop", "stop"),
    ("top_logprobs too many", "POST", "/v1/chat/completions", chat(logprobs=True, top_logprobs=1000), {}, 400, "top_logprobs", "top_logprobs"),
    ("seed a string", "POST", "/v1/chat/completions", chat(seed="x"), {}, 400, "seed", "seed"),
    ("presence_penalty out of range", "POST", "/v1/chat/completions", chat(presence_penalty=-3), {}, 400, "presence_penalty", "presence_penalty"),
    ("logit_bias bad key", "POST", "/v1/chat/completions", chat(logit_bias={"abc": 5}), {}, 400, "logit_bias", "logit_bias"),
    ("stream not a bool", "POST", "/v1/chat/completions", chat(stream="yes"), {}, 400, "stream", "stream"),
    ("tools not an array", "POST", "/v1/chat/completions", chat(tools={"a": 1}), {}, 400, "tools", "tools"),
    ("tool_choice unknown word", "POST", "/v1/chat/completions", chat(tool_choice="maybe"), {}, 400, "tool_choice", "maybe"),
    ("prompt over the context", "POST", "/v1/chat/completions",
     json.dumps({"messages": [{"role": "user", "content": "hello " * 4000}]}).encode(), {}, 400, None, "context"),
    ("max_tokens over the context", "POST", "/v1/chat/completions", chat(max_tokens=100000), {}, 400, None, "context"),
    ("unknown model", "POST", "/v1/chat/completions", chat(model="gpt-17"), {}, 404, "model", "gpt-17"),
    ("completions: prompt missing", "POST", "/v1/completions", b'{"max_tokens": 2}', {}, 400, "prompt", "prompt"),
    ("completions: token id out of vocab", "POST", "/v1/completions", b'{"prompt": [1, 99999999], "max_tokens": 2}',
     {}, 400, "prompt", "99999999"),
    ("completions: prompt a bool", "POST", "/v1/completions", b'{"prompt": true}', {}, 400, "prompt", "prompt"),
    ("tokenize: nothing to tokenize", "POST", "/tokenize", b'{}', {}, 400, None, "prompt"),
    ("detokenize: tokens not ints", "POST", "/detokenize", b'{"tokens": ["a"]}', {}, 400, "tokens", "tokens"),
    ("responses: input a number", "POST", "/v1/responses", b'{"input": 5}', {}, 400, "input", "input"),
    ("responses: unknown previous_response_id", "POST", "/v1/responses", b'{"input": "x", "previous_response_id": "resp_nope"}',
     {}, 404, "previous_response_id", "resp_nope"),
    ("bad content-type", "POST", "/v1/chat/completions", chat(), {"Content-Type": "text/plain"}, 415, None, "Content-Type"),
    ("body too large", "POST", "/v1/chat/completions",
     json.dumps({"messages": [{"role": "user", "content": "x" * 70000}]}).encode(), {}, 413, None, "bytes"),
    ("unknown path", "GET", "/v1/nothing-here", None, {}, 404, None, "/v1/nothing-here"),
    ("wrong method", "GET", "/v1/chat/completions", None, {}, 405, None, "GET"),
    ("no API key", "POST", "/v1/chat/completions", chat(), {"Authorization": ""}, 401, None, "API key"),
    ("wrong API key", "POST", "/v1/chat/completions", chat(), {"Authorization": "Bearer nope"}, 401, None, "API key"),
]


def raw(port, data, read_timeout=10):
    """Send raw bytes; return what comes back until the server closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    model = tm.make_model("qwen3", a.node_modules, os.path.join(a.work, "qwen3"))
    check = tm.Checks()
    with tm.Server(a.tritium, model, "--api-key", KEY, "--max-body-bytes", "65536", "--request-timeout", "2") as srv:
        def still_serving(what):
            st, _, body = tm.http("POST", srv.url + "/v1/chat/completions", chat(), AUTH)
            return check(st == 200 and json.loads(body)["choices"], f"{what}: server still serves")

        for name, method, path, body, hdrs, status, param, text in CASES:
            h = {**AUTH, **hdrs}
            if h.get("Authorization") == "":
                del h["Authorization"]
            st, _, out = tm.http(method, srv.url + path, body, h)
            try:
                err = json.loads(out)["error"]
                shaped = all(k in err for k in ("message", "type", "param", "code")) and isinstance(err["message"], str)
            except Exception:
                err, shaped = {"message": out[:200]}, False
            ok = st == status and shaped and (param is None or err.get("param") == param) and text in err["message"]
            check(ok, f"{name}: {st} {err.get('param')!r} {err['message'][:110]!r}")
            if st >= 500:
                check(False, f"{name}: a client's mistake must not be a 5xx")
        still_serving("after the JSON cases")

        # Wrong HTTP: a garbage request line, and a slowloris client that never finishes its headers.
        out = raw(srv.port, b"BLAH\r\n\r\n")
        check(out.startswith(b"HTTP/1.1 400"), f"garbage request line: 400 ({out[:40]!r})")
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Len")
        t0 = time.time()
        still_serving("while a slowloris client holds a connection")
        s.settimeout(10)
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except socket.timeout:
            pass
        s.close()
        check(time.time() - t0 < 8 and (got == b"" or got.startswith(b"HTTP/1.1 408")),
              f"slowloris: closed after --request-timeout ({got[:30]!r}, {time.time() - t0:.1f} s)")
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 500\r\n\r\n{\"messa")
        s.settimeout(10)
        try:
            got = s.recv(4096)
        except socket.timeout:
            got = b"(nothing)"
        s.close()
        check(got == b"" or got.startswith(b"HTTP/1.1 408"), f"body shorter than Content-Length: 408 or closed ({got[:30]!r})")
        st, _, _ = tm.http("GET", srv.url + "/health")
        check(st == 200, "/health stays open without a key")
        still_serving("at the end")
        check(srv.proc.poll() is None, "the process is alive")
    check.done()


if __name__ == "__main__":
    main()
