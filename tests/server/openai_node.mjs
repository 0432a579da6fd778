// The server against the official npm `openai` client. Usage: node openai_node.mjs BASE_URL API_KEY
// (test_node_clients.py starts the server with the scripted replies this file expects).
import OpenAI from "openai";

const [base, key] = process.argv.slice(2);
const c = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0, timeout: 60000 });
let pass = 0, fail = 0;
const check = (ok, what) => { ok ? pass++ : fail++; console.log((ok ? "ok   " : "FAIL ") + what); };
const user = (t) => [{ role: "user", content: t }];
const TOOL = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } };

const models = await c.models.list();
check(models.data.map((m) => m.id).join() === "tiny", "models.list");
const r = await c.chat.completions.create({ model: "tiny", messages: user("hello"), max_tokens: 5, temperature: 0 });
check(r.choices[0].finish_reason === "length" && r.usage.completion_tokens === 5, "chat: 5 tokens, length");
let text = "", usage = null, fins = [];
const s = await c.chat.completions.create({ model: "tiny", messages: user("hello"), max_tokens: 5, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
for await (const ch of s) {
  if (ch.usage) usage = ch.usage;
  for (const x of ch.choices) { text += x.delta.content || ""; if (x.finish_reason) fins.push(x.finish_reason); }
}
check(text === r.choices[0].message.content, "chat stream: same text as non-streamed");
check(usage && usage.completion_tokens === 5 && fins.join() === "length", "chat stream: usage chunk, one finish_reason");
const n3 = await c.chat.completions.create({ model: "tiny", messages: user("hello"), max_tokens: 3, n: 3, seed: 1 });
check(n3.choices.length === 3, "chat n=3");
const lp = await c.chat.completions.create({ model: "tiny", messages: user("hello"), max_tokens: 2, logprobs: true, top_logprobs: 3 });
check(lp.choices[0].logprobs.content.length === 2 && lp.choices[0].logprobs.content[0].top_logprobs.length === 3, "chat logprobs");
const st = await c.chat.completions.create({ model: "tiny", messages: user("count please"), max_tokens: 30, stop: " STOP" });
check(st.choices[0].message.content === "one two three", "chat stop");
for (const choice of ["auto", "required"]) {
  const t = await c.chat.completions.create({ model: "tiny", messages: user("What is the weather in Paris?"), tools: [TOOL], tool_choice: choice });
  const call = t.choices[0].message.tool_calls?.[0];
  check(call?.function.name === "get_weather" && JSON.parse(call.function.arguments).city === "Paris" &&
        t.choices[0].finish_reason === "tool_calls", `tools ${choice}`);
  let args = "", name = null;
  const ts = await c.chat.completions.create({ model: "tiny", messages: user("What is the weather in Paris?"), tools: [TOOL],
    tool_choice: choice, stream: true });
  for await (const ch of ts) for (const x of ch.choices) for (const d of x.delta.tool_calls || []) {
    if (d.function?.name) name = d.function.name;
    args += d.function?.arguments || "";
  }
  check(name === "get_weather" && JSON.parse(args).city === "Paris", `tools ${choice} stream`);
}
const comp = await c.completions.create({ model: "tiny", prompt: "hello", max_tokens: 4 });
check(comp.choices[0].text.length > 0 && comp.usage.completion_tokens === 4, "completions");
try { await c.chat.completions.create({ model: "nope", messages: user("x") }); check(false, "NotFoundError"); }
catch (e) { check(e instanceof OpenAI.NotFoundError, "unknown model: NotFoundError"); }
try { await c.chat.completions.create({ model: "tiny", messages: [] }); check(false, "BadRequestError"); }
catch (e) { check(e instanceof OpenAI.BadRequestError && e.param === "messages", "empty messages: BadRequestError, param messages"); }
try { await new OpenAI({ baseURL: base + "/v1", apiKey: "bad", maxRetries: 0 }).models.list(); check(false, "AuthenticationError"); }
catch (e) { check(e instanceof OpenAI.AuthenticationError, "wrong key: AuthenticationError"); }
const types = [];
let delta = "";
const rs = await c.responses.create({ model: "tiny", input: "think first", max_output_tokens: 40, stream: true });
for await (const ev of rs) { types.push(ev.type); if (ev.type === "response.output_text.delta") delta += ev.delta; }
check(types[0] === "response.created" && types.at(-1) === "response.completed" && delta.trim() === "The answer is 42.",
      "responses stream: created ... completed, text deltas");
const rr = await c.responses.create({ model: "tiny", input: "think first", max_output_tokens: 40 });
check(rr.output_text.trim() === "The answer is 42.", "responses: output_text");
console.log(`${pass} of ${pass + fail} checks passed`);
process.exit(fail ? 1 : 0);
