"""The server against the official Python `openai` client, on a tiny qwen3-tokenizer model.

Scripted replies (--test-script) give the tiny random model known text for tool calls, reasoning
and stop strings; every request still runs through the real engine, parsers and streaming.
Run by ctest (server_openai_python): python test_openai_python.py --tritium BIN --node-modules DIR --work DIR
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models as tm  # noqa: E402

import openai  # noqa: E402

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
RULES = [
    {"when": "weather in Paris", "reply": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'},
    {"when": "think first", "reply": "<think>\nThe user wants a number.\n</think>\n\nThe answer is 42."},
    {"when": "count please", "reply": "one two three STOP four five"},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    model = tm.make_model("qwen3", a.node_modules, os.path.join(a.work, "qwen3"))
    script = tm.write_script(os.path.join(a.work, "py_script.json"), RULES)
    check = tm.Checks()
    with tm.Server(a.tritium, model, "--test-script", script, "--api-key", "sekrit",
                   "--served-model-name", "tiny") as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="sekrit", max_retries=0, timeout=60)
        user = lambda t: [{"role": "user", "content": t}]  # noqa: E731

        models = c.models.list()
        check([m.id for m in models.data] == ["tiny"], "models.list names the served model")

        r = c.chat.completions.create(model="tiny", messages=user("hello"), max_tokens=6, temperature=0)
        check(r.object == "chat.completion" and r.choices[0].message.role == "assistant", "chat: object and role")
        check(r.usage.completion_tokens == 6 and r.choices[0].finish_reason == "length", "chat: max_tokens and length")
        check(r.usage.total_tokens == r.usage.prompt_tokens + 6, "chat: usage adds up")
        greedy = r.choices[0].message.content

        chunks = list(c.chat.completions.create(model="tiny", messages=user("hello"), max_tokens=6, temperature=0,
                                                stream=True, stream_options={"include_usage": True}))
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        check(text == greedy, "chat stream: same text as non-streamed (greedy)")
        check(chunks[0].choices[0].delta.role == "assistant", "chat stream: first delta has the role")
        check(len({ch.id for ch in chunks}) == 1 and len({ch.created for ch in chunks}) == 1, "chat stream: one id/created")
        fins = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        check(fins == ["length"], "chat stream: exactly one finish_reason")
        check(chunks[-1].usage is not None and chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6,
              "chat stream: final usage chunk")
        check(all(ch.usage is None for ch in chunks[:-1]), "chat stream: usage null on the other chunks")

        r = c.chat.completions.create(model="tiny", messages=user("hello"), max_tokens=5, n=3, temperature=1.0, seed=7)
        check(len(r.choices) == 3 and [ch.index for ch in r.choices] == [0, 1, 2], "chat n=3: three choices")
        check(r.usage.completion_tokens == 15, "chat n=3: usage counts all choices")
        r2 = c.chat.completions.create(model="tiny", messages=user("hello"), max_tokens=5, n=3, temperature=1.0, seed=7)
        check([x.message.content for x in r.choices] == [x.message.content for x in r2.choices],
              "chat seed: same seed, same samples")

        r = c.chat.completions.create(model="tiny", messages=user("hello"), max_tokens=3, temperature=0, logprobs=True,
                                      top_logprobs=2)
        lp = r.choices[0].logprobs.content
        check(len(lp) == 3 and all(len(t.top_logprobs) == 2 for t in lp), "chat logprobs: one entry a token, 2 top")
        check(all(t.logprob <= 0 and t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob for t in lp),
              "chat logprobs: log-probabilities, sorted")
        check(lp[0].token == lp[0].top_logprobs[0].token, "chat logprobs: greedy token is the top one")

        r = c.chat.completions.create(model="tiny", messages=user("count please"), max_tokens=30, stop=[" STOP"])
        check(r.choices[0].message.content == "one two three" and r.choices[0].finish_reason == "stop", "chat stop string")

        r = c.chat.completions.create(model="tiny", messages=user("think first"), max_tokens=40)
        m = r.choices[0].message
        rc = getattr(m, "reasoning_content", None) or (m.model_extra or {}).get("reasoning_content")
        check(rc is not None and "user wants a number" in rc and m.content.strip() == "The answer is 42.",
              "chat reasoning: <think> text in reasoning_content, answer in content")

        for choice in ("auto", "required", {"type": "function", "function": {"name": "get_weather"}}):
            name = choice if isinstance(choice, str) else "named"
            r = c.chat.completions.create(model="tiny", messages=user("What is the weather in Paris?"), tools=[TOOL],
                                          tool_choice=choice, max_tokens=60)
            tc = r.choices[0].message.tool_calls
            # OpenAI finishes a named (forced) call with "stop", the others with "tool_calls".
            fin = "stop" if name == "named" else "tool_calls"
            check(tc and tc[0].function.name == "get_weather" and json.loads(tc[0].function.arguments) == {"city": "Paris"}
                  and r.choices[0].finish_reason == fin, f"tools {name}: parsed tool call, finish {fin}")
            chunks = list(c.chat.completions.create(model="tiny", messages=user("What is the weather in Paris?"),
                                                    tools=[TOOL], tool_choice=choice, max_tokens=60, stream=True))
            deltas = [d for ch in chunks for d in (ch.choices[0].delta.tool_calls or []) if ch.choices]
            args = "".join(d.function.arguments or "" for d in deltas)
            ok = deltas and deltas[0].id and deltas[0].type == "function" and deltas[0].function.name == "get_weather"
            check(bool(ok) and json.loads(args) == {"city": "Paris"}, f"tools {name} stream: deltas give the call")
            fins = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
            check(fins == [fin], f"tools {name} stream: finish_reason {fin} once")
        r = c.chat.completions.create(model="tiny", messages=user("What is the weather in Paris?"), tools=[TOOL],
                                      tool_choice="none", max_tokens=60)
        check(not r.choices[0].message.tool_calls, "tools none: no tool calls parsed")
        conv = user("What is the weather in Paris?") + [
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}]
        r = c.chat.completions.create(model="tiny", messages=conv, tools=[TOOL], max_tokens=4)
        check(r.usage.prompt_tokens > 40, "tools: a tool result in the conversation is rendered")

        r = c.completions.create(model="tiny", prompt="hello", max_tokens=5, temperature=0)
        check(r.object == "text_completion" and r.usage.completion_tokens == 5, "completions: text_completion")
        ctext = r.choices[0].text
        s = "".join(ch.choices[0].text for ch in c.completions.create(model="tiny", prompt="hello", max_tokens=5,
                                                                        temperature=0, stream=True) if ch.choices)
        check(s == ctext, "completions stream: same text")
        r = c.completions.create(model="tiny", prompt=["hello", "world"], max_tokens=3, temperature=0)
        check(len(r.choices) == 2, "completions: list of prompts")
        r = c.completions.create(model="tiny", prompt="hello", max_tokens=3, temperature=0, echo=True)
        check(r.choices[0].text.startswith("hello") and len(r.choices[0].text) > 5, "completions: echo")
        r = c.completions.create(model="tiny", prompt="hello", max_tokens=3, temperature=0, logprobs=2)
        lp = r.choices[0].logprobs
        check(len(lp.tokens) == 3 and len(lp.token_logprobs) == 3 and all(len(t) == 2 for t in lp.top_logprobs),
              "completions: integer logprobs")

        try:
            c.chat.completions.create(model="nope", messages=user("hi"))
            check(False, "unknown model raises NotFoundError")
        except openai.NotFoundError as e:
            check(e.status_code == 404, "unknown model raises NotFoundError")
        try:
            openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0).models.list()
            check(False, "wrong key raises AuthenticationError")
        except openai.AuthenticationError:
            check(True, "wrong key raises AuthenticationError")
        try:
            c.chat.completions.create(model="tiny", messages=user("hi"), temperature=-1)
            check(False, "bad temperature raises BadRequestError")
        except openai.BadRequestError as e:
            check(e.body.get("param") == "temperature", "bad temperature raises BadRequestError naming the param")
        try:
            c.chat.completions.create(model="tiny", messages=user("hi " * 3000), max_tokens=10)
            check(False, "too-long prompt raises BadRequestError")
        except openai.BadRequestError as e:
            check(e.code == "context_length_exceeded", "too-long prompt: context_length_exceeded")

        r = c.responses.create(model="tiny", input="think first", max_output_tokens=40)
        check(r.output_text.strip() == "The answer is 42.", "responses: output_text")
        r2 = c.responses.create(model="tiny", input="again", previous_response_id=r.id, max_output_tokens=3)
        check(r2.usage.input_tokens > r.usage.input_tokens, "responses: previous_response_id continues")
        events = list(c.responses.create(model="tiny", input="think first", max_output_tokens=40, stream=True))
        types = [e.type for e in events]
        check(types[0] == "response.created" and types[1] == "response.in_progress" and types[-1] == "response.completed",
              "responses stream: created, in_progress ... completed")
        for t in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                  "response.output_text.done", "response.content_part.done", "response.output_item.done"):
            check(t in types, f"responses stream: has {t}")
        delta = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        check(delta.strip() == "The answer is 42.", "responses stream: deltas give the text")
    check.done()


if __name__ == "__main__":
    main()
