"""256 concurrent streaming clients on a tiny model, half of them disconnecting mid-stream: every
other stream completes with the tokens it gets alone (greedy), no request is lost, and afterwards
/metrics shows nothing running or waiting, every KV block free and the aborts counted.
Loopback only, bounded in count and time. Run by ctest (server_load).
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models as tm  # noqa: E402

CLIENTS = 256
PROMPTS = [f"story number {i}: once upon a time" for i in range(8)]
MAX_TOKENS = 12


def stream(port, prompt, drop_after=None, timeout=120):
    """Stream a completion; return (token ids, finish_reason), or ('dropped', n) after closing early."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    body = json.dumps({"prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True,
                       "stream": True, "return_token_ids": True})
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        return ("status", r.status)
    ids, finish, events = [], None, 0
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        j = json.loads(data)
        if "error" in j:
            return ("error", j["error"]["message"])
        for ch in j["choices"]:
            ids += ch.get("token_ids") or []
            finish = ch.get("finish_reason") or finish
        events += 1
        if drop_after is not None and events >= drop_after:
            conn.sock.shutdown(2)
            conn.close()
            return ("dropped", events)
    conn.close()
    return (ids, finish)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    model = tm.make_model("qwen3", a.node_modules, os.path.join(a.work, "qwen3"))
    check = tm.Checks()
    with tm.Server(a.tritium, model, "--http-threads", "4") as srv:
        alone = {p: stream(srv.port, p) for p in PROMPTS}
        check(all(len(v[0]) == MAX_TOKENS and v[1] == "length" for v in alone.values()), "alone: every prompt streams 12 tokens")
        results = [None] * CLIENTS

        def client(i):
            try:
                results[i] = stream(srv.port, PROMPTS[i % len(PROMPTS)], drop_after=3 if i % 2 else None)
            except Exception as e:  # noqa: BLE001
                results[i] = ("exception", repr(e))

        t0 = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        check(all(not t.is_alive() for t in threads), f"all {CLIENTS} clients finished ({time.time() - t0:.1f} s)")
        done = [i for i in range(0, CLIENTS, 2) if results[i] == alone[PROMPTS[i % len(PROMPTS)]]]
        bad = [(i, results[i]) for i in range(0, CLIENTS, 2) if results[i] != alone[PROMPTS[i % len(PROMPTS)]]]
        check(len(done) == CLIENTS // 2, f"{len(done)} of {CLIENTS // 2} staying streams got the tokens they get alone"
              + (f"; first difference: {bad[0]}" if bad else ""))
        dropped = sum(1 for i in range(1, CLIENTS, 2) if results[i] and results[i][0] == "dropped")
        check(dropped == CLIENTS // 2, f"{dropped} of {CLIENTS // 2} clients disconnected mid-stream")

        deadline = time.time() + 20
        while True:
            m = tm.metrics(srv.url)
            idle = (tm.metric(m, "tritium:num_requests_running") == 0 and tm.metric(m, "tritium:num_requests_waiting") == 0
                    and tm.metric(m, "tritium:kv_cache_blocks_free") == tm.metric(m, "tritium:kv_cache_blocks_total"))
            if idle or time.time() > deadline:
                break
            time.sleep(0.2)
        check(tm.metric(m, "tritium:num_requests_running") == 0, "metrics: 0 running")
        check(tm.metric(m, "tritium:num_requests_waiting") == 0, "metrics: 0 waiting")
        check(tm.metric(m, "tritium:kv_cache_blocks_free") == tm.metric(m, "tritium:kv_cache_blocks_total"),
              f"metrics: every KV block free ({tm.metric(m, 'tritium:kv_cache_blocks_free'):.0f} of "
              f"{tm.metric(m, 'tritium:kv_cache_blocks_total'):.0f})")
        ok = {k: v for k, v in m.items() if k.startswith("tritium:request_success_total")}
        length = sum(v for k, v in ok.items() if 'finished_reason="length"' in k)
        abort = sum(v for k, v in ok.items() if 'finished_reason="abort"' in k)
        # A dropped client whose 12 tokens were all generated before the engine saw the disconnect
        # finishes by length; every one of them is counted once either way.
        check(length + abort == len(PROMPTS) + CLIENTS, f"metrics: every request finished once (length {length:.0f}, abort {abort:.0f})")
        check(abort >= 1, "metrics: disconnected clients' requests were aborted")
        check(stream(srv.port, PROMPTS[0]) == alone[PROMPTS[0]], "after the load: a request still gets its tokens")
        import subprocess
        r = subprocess.run([a.tritium, "bench", "serve", "--port", str(srv.port), "--num-prompts", "16", "--input-len", "32",
                            "--output-len", "8", "--request-rate", "50", "--max-concurrency", "8", "--json"],
                           capture_output=True, text=True, timeout=120)
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        check(j.get("completed") == 16 and j.get("failed") == 0 and j.get("output_tokens") == 128
              and j.get("input_tokens") == 16 * 32 and j.get("ttft_p50_s", 0) > 0 and j.get("itl_p50_s", 0) > 0,
              f"bench serve --json: 16 requests, 128 tokens, timings ({r.stdout.strip()[:120]} {r.stderr.strip()[-200:]})")
    check.done()


if __name__ == "__main__":
    main()
