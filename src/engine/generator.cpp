#include "engine/generator.h"

#include "engine/next_token.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace tritium {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Generator::Generator(Model& model, int64_t num_blocks, int64_t block_size)
    : model_(model), pool_(num_blocks, block_size), kv_(model.allocate_kv_cache(num_blocks, block_size)) {}

Tensor Generator::step(std::vector<Seq*>& seqs, const std::vector<int64_t>& n, bool all_logits,
                       const Tensor* device_ids, bool argmax_only) {
  ForwardBatch b;
  b.argmax_only = argmax_only;
  size_t max_blocks = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Seq& s = *seqs[i];
    int64_t total = s.computed + n[i];
    TRITIUM_CHECK(total <= int64_t(s.tokens.size()), "step: not enough tokens");
    if (!s.table.reserve(pool_, total))
      throw Error(str_cat("KV cache is full: ", pool_.num_blocks(), " blocks of ", pool_.block_size(),
                          " tokens cannot hold this batch (raise the KV cache size)"));
    max_blocks = std::max(max_blocks, s.table.blocks().size());
  }
  b.max_blocks_per_seq = int64_t(max_blocks);
  b.cu_seqlens_q.push_back(0);
  for (size_t i = 0; i < seqs.size(); ++i) {
    Seq& s = *seqs[i];
    for (int64_t p = s.computed; p < s.computed + n[i]; ++p) {
      if (all_logits || p == s.computed + n[i] - 1) b.logits_indices.push_back(int32_t(b.token_ids.size()));
      b.token_ids.push_back(s.tokens[size_t(p)]);
      b.positions.push_back(int32_t(p));
      b.slot_mapping.push_back(s.table.slot(pool_, p));
    }
    b.cu_seqlens_q.push_back(int32_t(b.token_ids.size()));
    b.seq_lens.push_back(int32_t(s.computed + n[i]));
    auto& bl = s.table.blocks();
    for (size_t j = 0; j < max_blocks; ++j) b.block_tables.push_back(j < bl.size() ? bl[j] : 0);
  }
  if (device_ids) b.device_token_ids = *device_ids;
  Tensor logits = model_.forward_device(b, kv_);
  for (size_t i = 0; i < seqs.size(); ++i) seqs[i]->computed += n[i];
  return logits;
}


Tensor Generator::prompt_logits(const std::vector<int32_t>& prompt, int64_t chunk) {
  TRITIUM_CHECK(!prompt.empty(), "prompt is empty");
  Seq s;
  s.tokens = prompt;
  const int64_t P = int64_t(prompt.size()), V = model_.spec().vocab_size;
  Tensor out = Tensor::empty({P, V}, DType::F32);
  if (chunk <= 0) chunk = P;
  std::vector<Seq*> one{&s};
  try {
    for (int64_t done = 0; done < P;) {
      int64_t n = std::min(chunk, P - done);
      Tensor lg = logits_to_host_f32(step(one, {n}, true));
      std::memcpy(out.data<float>() + done * V, lg.data<float>(), size_t(n * V) * 4);
      done += n;
    }
  } catch (...) {
    s.table.release(pool_);
    throw;
  }
  s.table.release(pool_);
  return out;
}

std::vector<GenerationResult> Generator::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                  const SamplingParams& params, int64_t prefill_chunk) {
  params.validate();
  const ModelSpec& spec = model_.spec();
  std::vector<Seq> seqs(prompts.size());
  std::vector<GenerationResult> res(prompts.size());
  std::vector<SamplerRng> rngs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    TRITIUM_CHECK(!prompts[i].empty(), "prompt ", i, " is empty");
    for (auto t : prompts[i])
      TRITIUM_CHECK(t >= 0 && t < spec.vocab_size, "prompt ", i, ": token id ", t, " is outside the vocabulary (size ",
                    spec.vocab_size, ")");
    seqs[i].tokens = prompts[i];
    res[i].prompt_tokens = int64_t(prompts[i].size());
    rngs.emplace_back(params.seed.value_or(0) + i);
  }
  std::vector<bool> done(prompts.size(), false);
  std::vector<float> row;
  const bool on_device = device_sampling_.value_or(!model_.device().is_cpu());

  auto take = [&](size_t i, int32_t tok) {
    Seq& s = seqs[i];
    res[i].output_ids.push_back(tok);
    s.tokens.push_back(tok);
    std::string reason = stop_reason(tok, int64_t(res[i].output_ids.size()), int64_t(s.tokens.size()), params,
                                     spec.eos_token_ids, /*max_model_len=*/0);
    if (!reason.empty()) {
      done[i] = true;
      res[i].finish_reason = reason;
    }
  };
  auto pick = [&](size_t i, const float* lg) {
    std::span<const int32_t> prompt(seqs[i].tokens.data(), size_t(res[i].prompt_tokens));
    take(i, choose_next_token(std::span<const float>(lg, size_t(spec.vocab_size)), params, prompt, res[i].output_ids,
                              spec.eos_token_ids, rngs[i], row));
  };

  // Chooses the next token of sequences `which` from their rows of logits (on the device).
  auto pick_rows = [&](const std::vector<size_t>& which, const Tensor& lg) {
    bool dev = on_device;
    for (size_t i : which) dev = dev && device_can_sample(params, int64_t(res[i].output_ids.size()));
    if (dev) {
      std::vector<RowSampling> rows;
      for (size_t i : which)
        rows.push_back(row_sampling(params, params.seed.value_or(0) + i, int64_t(res[i].output_ids.size())));
      std::vector<int32_t> ids = sampler_.sample(lg, rows);
      for (size_t k = 0; k < which.size(); ++k) take(which[k], ids[k]);
      return;
    }
    Tensor h = logits_to_host_f32(lg);
    for (size_t k = 0; k < which.size(); ++k) pick(which[k], h.data<float>() + int64_t(k) * spec.vocab_size);
  };

  try {
    // Prefill: each prompt on its own (chunked if asked); the last chunk samples token 1.
    for (size_t i = 0; i < seqs.size(); ++i) {
      double t0 = now_s();
      std::vector<Seq*> one{&seqs[i]};
      const int64_t P = res[i].prompt_tokens;
      int64_t chunk = prefill_chunk > 0 ? prefill_chunk : P;
      Tensor lg;
      while (seqs[i].computed < P) lg = step(one, {std::min(chunk, P - seqs[i].computed)}, false);
      pick_rows({i}, lg);
      res[i].prefill_seconds = now_s() - t0;
    }
    // Decode: all unfinished sequences in one batch per step. When the step's tokens are drawn
    // on the device, the next step is enqueued before the host waits for them: it reads them
    // on the device, each sequence's token a placeholder on the host until they arrive. A
    // sequence that finished leaves its row of that step unused, and the step after it is
    // built afresh (so is one where every row reaches its last token: nothing to enqueue).
    std::vector<size_t> rows;  // the sequences of the draw in flight, by logits row
    bool in_flight = false;
    double t_prev = now_s();
    auto device_draw = [&](const std::vector<size_t>& which) {
      bool dev = on_device && !which.empty();
      for (size_t i : which) dev = dev && (done[i] || device_can_sample(params, int64_t(res[i].output_ids.size())));
      return dev;
    };
    // Greedy rows drawn on the device: the step may return their tokens instead of logits
    // (ForwardBatch::argmax_only). Asked before the tokens in flight are taken, which can only
    // make a draw on the device possible, never impossible (min_tokens).
    auto argmax_only = [&](const std::vector<size_t>& which) { return params.greedy() && device_draw(which); };
    auto launch_draw = [&](const std::vector<size_t>& which, const Tensor& lg) {
      if (lg.dtype() == DType::I32) {  // the step drew them already
        sampler_.launch_ids(lg);
        return;
      }
      std::vector<RowSampling> rs;
      for (size_t i : which)
        rs.push_back(row_sampling(params, params.seed.value_or(0) + i, int64_t(res[i].output_ids.size())));
      sampler_.launch(lg, rs);
    };
    auto timed = [&](size_t i, double dt) {
      res[i].decode_seconds += dt;
      ++res[i].decode_steps;
    };
    const int64_t max_tokens = params.max_tokens;
    for (;;) {
      if (in_flight) {
        bool ahead = pipelining_;  // enqueue the next step now?
        bool all_end = true;  // every row draws its sequence's last token: nothing to enqueue
        for (size_t i : rows) {
          ahead = ahead && !done[i];
          all_end = all_end && int64_t(res[i].output_ids.size()) + 1 >= max_tokens;
        }
        ahead = ahead && !all_end;
        Tensor lg;
        if (ahead) {
          std::vector<Seq*> act;
          for (size_t i : rows) {
            seqs[i].tokens.push_back(0);  // placeholder: the step reads the drawn id on the device
            act.push_back(&seqs[i]);
          }
          const Tensor ids_dev = sampler_.device_ids();
          lg = step(act, std::vector<int64_t>(act.size(), 1), false, &ids_dev, argmax_only(rows));
          ++pipelined_steps_;
        }
        std::vector<int32_t> ids = sampler_.wait();
        const double t = now_s(), dt = t - t_prev;
        t_prev = t;
        for (size_t k = 0; k < rows.size(); ++k) {
          size_t i = rows[k];
          if (ahead) seqs[i].tokens.pop_back();
          if (done[i]) continue;  // finished before this draw: its row was a spare
          take(i, ids[k]);
          timed(i, dt);
        }
        if (!ahead) {
          in_flight = false;
          continue;
        }
        // lg: the logits of the step enqueued above, one row per sequence of `rows`.
        if (device_draw(rows)) {
          launch_draw(rows, lg);
          continue;
        }
        in_flight = false;
        TRITIUM_CHECK(lg.dtype() != DType::I32, "generate: a greedy step's tokens cannot be drawn on the host");
        Tensor h = logits_to_host_f32(lg);
        std::vector<size_t> picked;
        for (size_t k = 0; k < rows.size(); ++k)
          if (!done[rows[k]]) {
            pick(rows[k], h.data<float>() + int64_t(k) * spec.vocab_size);
            picked.push_back(rows[k]);
          }
        const double t2 = now_s();
        for (size_t i : picked) timed(i, t2 - t_prev);
        t_prev = t2;
        continue;
      }
      std::vector<Seq*> active;
      std::vector<size_t> which;
      for (size_t i = 0; i < seqs.size(); ++i)
        if (!done[i]) {
          active.push_back(&seqs[i]);
          which.push_back(i);
        }
      if (active.empty()) break;
      t_prev = now_s();
      Tensor lg = step(active, std::vector<int64_t>(active.size(), 1), false, nullptr, argmax_only(which));
      if (device_draw(which)) {
        rows = which;
        launch_draw(rows, lg);
        in_flight = true;
        continue;
      }
      pick_rows(which, lg);
      const double t = now_s();
      for (auto i : which) timed(i, t - t_prev);
      t_prev = t;
    }
  } catch (...) {
    for (auto& s : seqs) s.table.release(pool_);
    throw;
  }
  for (auto& s : seqs) s.table.release(pool_);
  return res;
}

}  // namespace tritium
