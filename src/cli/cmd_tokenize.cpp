// `tritium tokenize` and `tritium detokenize`: run a model's tokenizer (tokenizer.json or GGUF metadata).
//   tritium tokenize --model DIR "text" [--json] [--no-special] [--no-parse-special]
//   tritium tokenize --model DIR --jsonl FILE      (one JSON string per line in, one object per line out;
//                                                   --all-modes adds "ids_no_special" and "ids_no_parse")
//   tritium detokenize --model DIR --json-ids "[1,2,3]" [--skip-special] [--stream]
//   tritium detokenize --model DIR --jsonl FILE    (one JSON id array per line in; prints
//                                                   {"text": decode, "stream": incremental concatenation};
//                                                   --all-modes adds "text_skip" and "stream_skip")
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "cli/common.h"
#include "tokenizer/tokenizer.h"
#include "tritium/model_files.h"

namespace tritium::cli {
namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json encode_obj(const tok::Tokenizer& t, const std::string& text, bool add_special, bool parse_special) {
  auto ids = t.encode(text, add_special, parse_special);
  json toks = json::array();
  for (int32_t id : ids) toks.push_back(t.id_to_token(id).value_or(""));
  return json{{"ids", ids}, {"tokens", toks}};
}

std::string stream_decode(const tok::Tokenizer& t, const std::vector<int32_t>& ids, bool skip) {
  tok::IncrementalDetokenizer d(t, skip);
  std::string s;
  for (int32_t id : ids) s += d.push(id);
  s += d.finish();
  return s;
}

std::vector<int32_t> parse_ids(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(str_cat(where, ": not JSON: ", e.what()));
  }
  TRITIUM_CHECK(j.is_array(), where, ": expected a JSON array of token ids");
  std::vector<int32_t> ids;
  for (auto& x : j) {
    TRITIUM_CHECK(x.is_number_integer(), where, ": token ids must be integers");
    ids.push_back(x.get<int32_t>());
  }
  return ids;
}

template <typename F>
void for_each_line(const std::string& path, F fn) {
  std::ifstream f(path);
  TRITIUM_CHECK(f.good(), "cannot open ", path);
  std::string line;
  size_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    fn(line, str_cat(path, ":", n));
  }
}

struct TokenizeOpts {
  std::string model, text, jsonl;
  bool json = false, no_special = false, no_parse_special = false, all_modes = false;
};

struct DetokenizeOpts {
  std::string model, ids, jsonl;
  bool skip_special = false, stream = false, all_modes = false;
};

// The model's tokenizer (tokenizer.json or GGUF metadata), or an error saying it has none.
std::unique_ptr<tok::Tokenizer> model_tokenizer(const std::string& model) {
  auto t = load_tokenizer(resolve_model(model));
  TRITIUM_CHECK(t, model, ": no tokenizer (no tokenizer.json, no GGUF tokenizer metadata)");
  return t;
}

void run_tokenize(const TokenizeOpts& o) {
  auto tp = model_tokenizer(o.model);
  const tok::Tokenizer& t = *tp;
  bool add = !o.no_special, parse = !o.no_parse_special;
  if (!o.jsonl.empty()) {
    for_each_line(o.jsonl, [&](const std::string& line, const std::string& where) {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {
        throw Error(str_cat(where, ": not JSON: ", e.what()));
      }
      TRITIUM_CHECK(j.is_string(), where, ": expected a JSON string");
      json r = encode_obj(t, j.get<std::string>(), add, parse);
      if (o.all_modes) {
        r["ids_no_special"] = t.encode(j.get<std::string>(), false, true);
        r["ids_no_parse"] = t.encode(j.get<std::string>(), true, false);
      }
      std::cout << dump(r) << '\n';
    });
    return;
  }
  json r = encode_obj(t, o.text, add, parse);
  if (o.json) {
    std::cout << dump(r) << '\n';
    return;
  }
  std::string line;
  for (auto& id : r["ids"]) line += (line.empty() ? "" : " ") + std::to_string(id.get<int32_t>());
  std::cout << line << '\n';
  for (size_t i = 0; i < r["ids"].size(); ++i) {
    std::cout << r["ids"][i].get<int32_t>() << '\t' << dump(r["tokens"][i]) << '\n';
  }
}

void run_detokenize(const DetokenizeOpts& o) {
  auto tp = model_tokenizer(o.model);
  const tok::Tokenizer& t = *tp;
  if (!o.jsonl.empty()) {
    for_each_line(o.jsonl, [&](const std::string& line, const std::string& where) {
      auto ids = parse_ids(line, where);
      json r{{"text", t.decode(ids, o.skip_special)}, {"stream", stream_decode(t, ids, o.skip_special)}};
      if (o.all_modes) {
        r["text_skip"] = t.decode(ids, true);
        r["stream_skip"] = stream_decode(t, ids, true);
      }
      std::cout << dump(r) << '\n';
    });
    return;
  }
  TRITIUM_CHECK(!o.ids.empty(), "detokenize: give --json-ids \"[...]\" or --jsonl FILE");
  auto ids = parse_ids(o.ids, "--json-ids");
  std::cout << (o.stream ? stream_decode(t, ids, o.skip_special) : t.decode(ids, o.skip_special)) << '\n';
}

RegisterCommand reg([](CLI::App& app) {
  auto to = std::make_shared<TokenizeOpts>();
  auto* c = app.add_subcommand("tokenize", "Encode text with a model's tokenizer");
  c->add_option("--model", to->model, kModelHelp)->required();
  c->add_option("text", to->text, "Text to encode");
  c->add_flag("--json", to->json, "Print {\"ids\":[...],\"tokens\":[...]}");
  c->add_option("--jsonl", to->jsonl, "File with one JSON string per line; prints one JSON object per line");
  c->add_flag("--no-special", to->no_special, "Do not add special tokens (BOS/EOS from the post-processor)");
  c->add_flag("--no-parse-special", to->no_parse_special, "Treat special tokens written in the text as plain text");
  c->add_flag("--all-modes", to->all_modes, "With --jsonl: also ids_no_special and ids_no_parse (conformance tests)");
  c->callback([to]() { run_tokenize(*to); });

  auto dt = std::make_shared<DetokenizeOpts>();
  auto* d = app.add_subcommand("detokenize", "Decode token ids with a model's tokenizer");
  d->add_option("--model", dt->model, kModelHelp)->required();
  d->add_option("--json-ids", dt->ids, "Token ids as a JSON array, e.g. \"[1,2,3]\"");
  d->add_option("--jsonl", dt->jsonl, "File with one JSON id array per line; prints {\"text\",\"stream\"} per line");
  d->add_flag("--skip-special", dt->skip_special, "Leave special tokens out of the text");
  d->add_flag("--stream", dt->stream, "Decode through the incremental detokenizer (concatenated outputs)");
  d->add_flag("--all-modes", dt->all_modes, "With --jsonl: also text_skip and stream_skip (conformance tests)");
  d->callback([dt]() { run_detokenize(*dt); });
});

}  // namespace
}  // namespace tritium::cli
