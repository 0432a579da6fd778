// Encodes a JSONL corpus with the JS port (@huggingface/tokenizers), for information only:
// the conformance test follows the Rust library and reports where the JS port differs.
// Usage: node js_reference.mjs MODEL_DIR CORPUS.jsonl  -> one {"ids":[...],"ids_no_special":[...]} per line
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, corpus] = process.argv.slice(2);
const tj = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8"));
let cfg = {};
try {
  cfg = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
} catch {}
const tok = new Tokenizer(tj, cfg);
const out = [];
for (const line of readFileSync(corpus, "utf8").split("\n")) {
  if (!line) continue;
  const text = JSON.parse(line);
  let r;
  try {
    r = { ids: tok.encode(text).ids, ids_no_special: tok.encode(text, { add_special_tokens: false }).ids };
  } catch (e) {
    r = { error: String(e) };
  }
  out.push(JSON.stringify(r));
}
process.stdout.write(out.join("\n") + "\n");
