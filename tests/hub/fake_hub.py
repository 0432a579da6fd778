"""A local HTTP server that imitates the Hugging Face hub's endpoints tritium uses, for the pull
tests: the file list (GET /api/models/ORG/NAME/revision/REV?blobs=true), file downloads
(GET|HEAD /ORG/NAME/resolve/REV/PATH, LFS files redirected to a second host name, as the hub
redirects to its CDN) with Range requests, and knobs to fail: a connection cut once inside a
range, corrupted bytes, a gated repository that wants a token. It records every request.
"""
import hashlib
import http.server
import json
import re
import threading
import time


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, files, commit, lfs_min=1024, token=None):
        self.files = dict(files)  # path -> bytes
        self.commit = commit
        self.lfs = {p for p, b in self.files.items() if len(b) >= lfs_min}
        self.token = token  # gated: requests need "Authorization: Bearer <token>"

    def blob_id(self, path):
        b = self.files[path]
        return hashlib.sha256(b).hexdigest() if path in self.lfs else git_blob_id(b)


class FakeHub:
    def __init__(self):
        self.repos = {}  # "org/name" -> Repo
        self.lock = threading.Lock()
        self.requests = []  # (method, path, headers dict)
        self.cut_once = set()  # (path, range start): close the connection halfway, once
        self.corrupt = set()  # paths served with one byte flipped
        self.fake_sizes = {}  # path -> size listed instead of the real one
        self.range_delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_HEAD(self):
                self.handle_any(head=True)

            def do_GET(self):
                self.handle_any(head=False)

            def reply(self, status, body=b"", headers=None, head=False):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def handle_any(self, head):
                with hub.lock:
                    hub.requests.append((self.command, self.path, dict(self.headers)))
                    hub.in_flight += 1
                    hub.max_in_flight = max(hub.max_in_flight, hub.in_flight)
                try:
                    self.route(head)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with hub.lock:
                        hub.in_flight -= 1

            def authorized(self, repo):
                return repo.token is None or self.headers.get("Authorization") == "Bearer " + repo.token

            def route(self, head):
                m = re.match(r"^/api/models/([^/]+/[^/]+)/revision/([^?]+)(\?.*)?$", self.path)
                if m:
                    repo = hub.repos.get(m.group(1))
                    if repo is None:
                        return self.reply(404, b'{"error":"Repository not found"}')
                    if not self.authorized(repo):
                        return self.reply(401, b'{"error":"Access to model is restricted"}')
                    if m.group(2) not in ("main", repo.commit):
                        return self.reply(404, b'{"error":"Revision not found"}')
                    sib = []
                    for p, b in repo.files.items():
                        e = {"rfilename": p, "size": hub.fake_sizes.get(p, len(b)), "blobId": git_blob_id(b)}
                        if p in repo.lfs:
                            e["lfs"] = {"sha256": repo.blob_id(p), "size": hub.fake_sizes.get(p, len(b)),
                                        "pointerSize": 134}
                        sib.append(e)
                    body = json.dumps({"id": m.group(1), "sha": repo.commit, "siblings": sib}).encode()
                    return self.reply(200, body, {"Content-Type": "application/json"}, head)
                m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^?]+)(\?.*)?$", self.path)
                if m:  # what huggingface_hub's snapshot_download lists
                    repo = hub.repos.get(m.group(1))
                    if repo is None or not self.authorized(repo):
                        return self.reply(404 if repo is None else 401, b"{}")
                    items = []
                    for p, b in repo.files.items():
                        e = {"type": "file", "path": p, "size": len(b), "oid": git_blob_id(b)}
                        if p in repo.lfs:
                            e["lfs"] = {"oid": repo.blob_id(p), "size": len(b), "pointerSize": 134}
                        items.append(e)
                    return self.reply(200, json.dumps(items).encode(), {"Content-Type": "application/json"}, head)
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path)
                if m:
                    repo = hub.repos.get(m.group(1))
                    if repo is None:
                        return self.reply(404, b"Repository not found", {"X-Error-Code": "RepoNotFound"}, head)
                    if not self.authorized(repo):
                        return self.reply(401, b"gated", {"X-Error-Code": "GatedRepo"}, head)
                    path = m.group(3)
                    if m.group(2) not in ("main", repo.commit) or path not in repo.files:
                        return self.reply(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"}, head)
                    common = {"X-Repo-Commit": repo.commit, "ETag": '"%s"' % git_blob_id(repo.files[path])}
                    if path in repo.lfs:
                        # to the "CDN": another host name for the same server
                        port = self.server.server_address[1]
                        loc = "http://localhost:%d/cdn/%s/%s" % (port, m.group(1), path)
                        common.update({"Location": loc, "X-Linked-Etag": '"%s"' % repo.blob_id(path),
                                       "X-Linked-Size": str(len(repo.files[path]))})
                        return self.reply(302, b"", common, head)
                    return self.send_file(repo, path, head, common)
                m = re.match(r"^/cdn/([^/]+/[^/]+)/(.+)$", self.path)
                if m and m.group(1) in hub.repos and m.group(2) in hub.repos[m.group(1)].files:
                    repo = hub.repos[m.group(1)]
                    return self.send_file(repo, m.group(2), head, {"ETag": '"%s"' % repo.blob_id(m.group(2))})
                return self.reply(404, b"not found", None, head)

            def send_file(self, repo, path, head, headers):
                data = repo.files[path]
                if path in hub.corrupt:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                rng = self.headers.get("Range")
                status, start, end = 200, 0, len(data) - 1
                if rng:
                    m = re.match(r"^bytes=(\d+)-(\d*)$", rng)
                    start = int(m.group(1))
                    end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
                    status = 206
                    headers = dict(headers, **{"Content-Range": "bytes %d-%d/%d" % (start, end, len(data))})
                    if hub.range_delay_s:
                        time.sleep(hub.range_delay_s)
                body = data[start:end + 1]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                key = (path, start)
                with hub.lock:
                    cut = key in hub.cut_once
                    hub.cut_once.discard(key)
                if cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that hang up (the cut tests) are expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def take_requests(self):
        with self.lock:
            r, self.requests = self.requests, []
            self.max_in_flight = 0
            return r
