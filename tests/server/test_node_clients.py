"""Starts `tritium serve` on a tiny model with scripted replies and runs the npm clients against it:
openai_node.mjs (the official npm `openai` client) and web_page.mjs (the web chat page in headless
Chromium driven by playwright-core; its screenshot goes to --work). Run by ctest (server_node_clients).
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models as tm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = [
    {"when": "weather in Paris", "reply": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'},
    {"when": "think first", "reply": "<think>\nThe user wants a number.\n</think>\n\nThe answer is 42."},
    {"when": "count please", "reply": "one two three STOP four five"},
    {"when": "talk forever", "reply": " and on", "repeat": True},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    node = shutil.which("node") or shutil.which("nodejs")
    if not node or not os.path.isdir(os.path.join(HERE, "node_modules", "openai")):
        raise SystemExit("node or tests/server/node_modules missing: run scripts/install-deps.sh --test")
    model = tm.make_model("qwen3", a.node_modules, os.path.join(a.work, "qwen3"))
    script = tm.write_script(os.path.join(a.work, "node_script.json"), RULES)
    rc = 0
    with tm.Server(a.tritium, model, "--test-script", script, "--api-key", "sekrit", "--served-model-name", "tiny") as srv:
        for js, extra in (("openai_node.mjs", []), ("web_page.mjs", [os.path.join(a.work, "web_page.png")])):
            print(f"--- {js}", flush=True)
            r = subprocess.run([node, os.path.join(HERE, js), srv.url, "sekrit", *extra], cwd=HERE, timeout=180)
            rc |= r.returncode
        if rc:
            print(srv.log[-3000:])
    sys.exit(1 if rc else 0)


if __name__ == "__main__":
    main()
