#!/usr/bin/env python3
"""`tritium pull` and `--model ORG/NAME` against a fake hub on the loopback (tests/hub/fake_hub.py):
the cache layout (checked with huggingface_hub's own cache reader), parallel ranged downloads,
resume after a cut, sha256 mismatch, 404, 401 for a gated model, the token kept from the CDN
host, disk-space refusal, cache reuse with the hub gone, and models huggingface_hub downloaded
found by tritium.
Usage: test_pull.py --tritium BIN [--source DIR] [unittest args]
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_hub import FakeHub, Repo  # noqa: E402

ARGS = None
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 64 * 1024


def fixture(name):
    d = os.path.join(ARGS.source, "tests", "fixtures", "golden", "llama")
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


class PullTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tritium_pull_")
        self.cache = os.path.join(self.tmp, "hub")
        self.hub = FakeHub()
        self.model = {"config.json": fixture("config.json"), "model.safetensors": fixture("model.safetensors"),
                      "README.md": b"# tiny\n"}
        self.hub.repos["org/tiny"] = Repo(self.model, COMMIT)
        self.hub.start()

    def tearDown(self):
        self.hub.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        e.update({"HF_HUB_CACHE": self.cache, "HF_ENDPOINT": self.hub.endpoint, "TRITIUM_HUB_CHUNK_BYTES": str(CHUNK),
                  "TRITIUM_HUB_RETRIES": "0", "NO_PROXY": "*", "no_proxy": "*"})
        e.update(extra)
        return e

    def run_cli(self, *args, ok=True, **env):
        p = subprocess.run([ARGS.tritium, *args], env=self.env(**env), capture_output=True, text=True, timeout=120)
        if ok:
            self.assertEqual(p.returncode, 0, "tritium %s failed:\n%s" % (" ".join(args), p.stderr))
        else:
            self.assertNotEqual(p.returncode, 0, "tritium %s succeeded:\n%s" % (" ".join(args), p.stdout))
        return p

    def tokens(self, *args, **env):
        out = self.run_cli("generate", *args, **env).stdout
        return [l for l in out.splitlines() if not l.startswith(("prefill:", "decode:"))]

    def repo_dir(self, repo="org/tiny"):
        return os.path.join(self.cache, "models--" + repo.replace("/", "--"))

    def blob_files(self, repo="org/tiny"):
        d = os.path.join(self.repo_dir(repo), "blobs")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def ranges_of(self, reqs, name):
        return [h.get("Range") for m, p, h in reqs if p.endswith("/" + name) and m == "GET"]

    # ------------------------------------------------------------------ the happy path

    def test_pull_lays_out_the_cache_as_huggingface_hub_does(self):
        self.hub.range_delay_s = 0.05
        p = self.run_cli("pull", "org/tiny")
        snap = p.stdout.strip()
        self.assertEqual(snap, os.path.join(self.repo_dir(), "snapshots", COMMIT))
        # the default set: root *.json and *.safetensors, not README.md
        self.assertEqual(sorted(os.listdir(snap)), ["config.json", "model.safetensors"])
        for name in ("config.json", "model.safetensors"):
            link = os.path.join(snap, name)
            self.assertTrue(os.path.islink(link))
            self.assertFalse(os.path.isabs(os.readlink(link)))
            with open(link, "rb") as f:
                self.assertEqual(f.read(), self.model[name])
        with open(os.path.join(self.repo_dir(), "refs", "main")) as f:
            self.assertEqual(f.read().strip(), COMMIT)
        sha = hashlib.sha256(self.model["model.safetensors"]).hexdigest()
        self.assertIn(sha, self.blob_files())
        self.assertFalse([b for b in self.blob_files() if b.endswith((".incomplete", ".parts"))])
        # ranged, in parallel
        max_in_flight = self.hub.max_in_flight
        reqs = self.hub.take_requests()
        ranges = self.ranges_of(reqs, "model.safetensors")
        n = (len(self.model["model.safetensors"]) + CHUNK - 1) // CHUNK
        self.assertEqual(len(ranges), 2 * n)  # each range: resolve (redirect) + CDN
        self.assertIn("bytes=0-%d" % (CHUNK - 1), ranges)
        self.assertGreater(max_in_flight, 1)
        # huggingface_hub's cache reader agrees
        from huggingface_hub import scan_cache_dir, try_to_load_from_cache
        info = scan_cache_dir(self.cache)
        repos = {r.repo_id: r for r in info.repos}
        self.assertIn("org/tiny", repos)
        self.assertEqual(try_to_load_from_cache("org/tiny", "model.safetensors", cache_dir=self.cache),
                         os.path.join(snap, "model.safetensors"))
        # the token never goes to the CDN host
        self.assertTrue(all(p.startswith("/cdn/") == (h.get("Host", "").startswith("localhost")) for m, p, h in reqs))

    def test_generate_from_the_cache_with_the_hub_gone(self):
        ref = self.tokens("--model", os.path.join(ARGS.source, "tests/fixtures/golden/llama"),
                          "--prompt-ids", "5,17,42", "--max-tokens", "8")
        self.assertTrue(ref)
        got = self.tokens("--model", "org/tiny", "--prompt-ids", "5,17,42", "--max-tokens", "8")
        self.assertEqual(got, ref)
        self.hub.stop()
        self.hub = FakeHub().start()  # nothing listens where HF_ENDPOINT pointed: the cache serves
        dead = "http://127.0.0.1:9"
        again = self.tokens("--model", "org/tiny", "--prompt-ids", "5,17,42", "--max-tokens", "8", HF_ENDPOINT=dead)
        self.assertEqual(again, ref)
        off = self.tokens("--model", "org/tiny", "--prompt-ids", "5,17,42", "--max-tokens", "8", HF_ENDPOINT=dead,
                          HF_HUB_OFFLINE="1")
        self.assertEqual(off, ref)
        # pull asks the hub; unreachable, it falls back to the snapshot with a warning
        p = self.run_cli("pull", "org/tiny", HF_ENDPOINT=dead)
        self.assertIn("unreachable", p.stderr)
        self.assertTrue(p.stdout.strip().endswith(COMMIT))
        # not in the cache and offline: a clear error
        p = self.run_cli("generate", "--model", "org/other", "--prompt-ids", "1", HF_HUB_OFFLINE="1", ok=False)
        self.assertIn("org/other@main is not in the Hugging Face cache", p.stderr)

    def test_second_pull_downloads_nothing(self):
        self.run_cli("pull", "org/tiny")
        self.hub.take_requests()
        self.run_cli("pull", "org/tiny")
        reqs = self.hub.take_requests()
        self.assertEqual([p for m, p, h in reqs if "/resolve/" in p or "/cdn/" in p], [])

    def test_include_globs(self):
        p = self.run_cli("pull", "org/tiny", "--include", "*.md")
        self.assertEqual(os.listdir(p.stdout.strip()), ["README.md"])
        p = self.run_cli("pull", "org/tiny", "--include", "*.bin", ok=False)
        self.assertIn("no file matches --include '*.bin'", p.stderr)

    # ------------------------------------------------------------------ failures

    def test_resume_after_a_cut(self):
        self.hub.cut_once.add(("model.safetensors", 2 * CHUNK))
        p = self.run_cli("pull", "org/tiny", ok=False)
        self.assertIn("model.safetensors", p.stderr)
        self.assertIn("run again to resume", p.stderr)
        snap = os.path.join(self.repo_dir(), "snapshots", COMMIT)
        self.assertFalse(os.path.exists(os.path.join(snap, "model.safetensors")))
        partial = [b for b in self.blob_files() if b.endswith(".incomplete")]
        self.assertEqual(len(partial), 1)
        # the record of the ranges written in full: the range size, then their indices
        with open(os.path.join(self.repo_dir(), "blobs", partial[0] + ".parts"), "rb") as f:
            rec = f.read()
        self.assertEqual(int.from_bytes(rec[:8], "little"), CHUNK)
        done = {int.from_bytes(rec[i:i + 8], "little") for i in range(8, len(rec), 8)}
        self.assertNotIn(2, done)
        self.hub.take_requests()
        p = self.run_cli("pull", "org/tiny")
        second = set(self.ranges_of(self.hub.take_requests(), "model.safetensors"))
        n = (len(self.model["model.safetensors"]) + CHUNK - 1) // CHUNK
        size = len(self.model["model.safetensors"])
        want = {"bytes=%d-%d" % (k * CHUNK, min(size, (k + 1) * CHUNK) - 1) for k in range(n) if k not in done}
        # only the ranges the first run did not finish
        self.assertEqual(second, want)
        with open(os.path.join(snap, "model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), self.model["model.safetensors"])
        self.assertFalse([b for b in self.blob_files() if b.endswith((".incomplete", ".parts"))])

    def test_retries_recover_from_a_cut(self):
        self.hub.cut_once.add(("model.safetensors", 0))
        p = self.run_cli("pull", "org/tiny", TRITIUM_HUB_RETRIES="2")
        with open(os.path.join(p.stdout.strip(), "model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), self.model["model.safetensors"])

    def test_checksum_mismatch_leaves_nothing(self):
        self.hub.corrupt.add("model.safetensors")
        p = self.run_cli("pull", "org/tiny", ok=False)
        sha = hashlib.sha256(self.model["model.safetensors"]).hexdigest()
        self.assertIn("checksum mismatch: model.safetensors", p.stderr)
        self.assertIn(sha, p.stderr)
        self.assertNotIn(sha, self.blob_files())
        self.assertFalse([b for b in self.blob_files() if sha in b])
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir(), "snapshots", COMMIT, "model.safetensors")))
        self.hub.corrupt.clear()
        self.run_cli("pull", "org/tiny")

    def test_not_found(self):
        p = self.run_cli("pull", "org/missing", ok=False)
        self.assertIn("org/missing", p.stderr)
        self.assertIn("404 not found", p.stderr)
        p = self.run_cli("pull", "org/tiny@v9", ok=False)
        self.assertIn("revision 'v9'", p.stderr)
        p = self.run_cli("pull", "not-a-repo", ok=False)
        self.assertIn("not a hub repository", p.stderr)

    def test_gated_model_needs_a_token(self):
        self.hub.repos["org/gated"] = Repo(self.model, COMMIT, token="s3cret")
        p = self.run_cli("pull", "org/gated", ok=False)
        self.assertIn("401", p.stderr)
        self.assertIn("set HF_TOKEN", p.stderr)
        p = self.run_cli("pull", "org/gated", ok=False, HF_TOKEN="wrong")
        self.assertIn("HF_TOKEN was sent but does not grant access", p.stderr)
        self.hub.take_requests()
        p = self.run_cli("pull", "org/gated", HF_TOKEN="s3cret")
        with open(os.path.join(p.stdout.strip(), "model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), self.model["model.safetensors"])
        reqs = self.hub.take_requests()
        cdn = [h for m, p, h in reqs if p.startswith("/cdn/")]
        self.assertTrue(cdn)
        self.assertFalse([h for h in cdn if "Authorization" in h], "the token went to the CDN host")
        self.assertTrue(all(h.get("Authorization") == "Bearer s3cret" for m, p, h in reqs if not p.startswith("/cdn/")))

    def test_not_enough_disk_space(self):
        self.hub.fake_sizes["model.safetensors"] = 1 << 55
        p = self.run_cli("pull", "org/tiny", ok=False)
        self.assertIn("not enough disk space for org/tiny", p.stderr)
        self.assertEqual([b for b in self.blob_files() if b.endswith(".incomplete")], [])

    # ------------------------------------------------------------------ other tools' downloads

    def test_finds_what_huggingface_hub_downloaded(self):
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            self.skipTest("huggingface_hub is not installed")
        env = self.env()
        old = dict(os.environ)
        os.environ.update({k: env[k] for k in ("HF_ENDPOINT", "HF_HUB_CACHE")})
        os.environ["HF_HUB_DISABLE_XET"] = "1"
        try:
            import importlib

            import huggingface_hub.constants as c
            importlib.reload(c)
            path = snapshot_download("org/tiny", cache_dir=self.cache, endpoint=self.hub.endpoint,
                                     allow_patterns=["*.json", "*.safetensors"])
        finally:
            os.environ.clear()
            os.environ.update(old)
        ref = self.tokens("--model", os.path.join(ARGS.source, "tests/fixtures/golden/llama"),
                          "--prompt-ids", "5,17,42", "--max-tokens", "4")
        got = self.tokens("--model", "org/tiny", "--prompt-ids", "5,17,42", "--max-tokens", "4", HF_HUB_OFFLINE="1")
        self.assertEqual(got, ref)
        self.assertEqual(os.path.realpath(path), os.path.realpath(os.path.join(self.repo_dir(), "snapshots", COMMIT)))




if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
