// CUDA ops against the CPU reference on fresh random inputs (seed printed): embedding,
// RMSNorm (rows, per-head q/k views, residual), SiLU-and-mul, linear (GEMV, split-K, tiled
// and persistent GEMM, bias, column-slice outputs), and the errors for shapes no kernel takes.
// Both sides get the same bf16/fp16-representable values (the CPU upcast to F32); outputs are
// poisoned with NaN before each run; ||gpu - cpu|| / ||cpu|| <= 1e-2 and NaN never passes.
// RoPE + KV write and attention are in ops_attention_test.cpp. Without a GPU every test skips.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cuda/cuda_ops_util.h"
#include "backends/cuda/kernel_profile.h"
#include "core/error.h"
#include "gpu_util.h"
#include "ops/ops.h"

using namespace tritium;
using namespace tritium::gputest;

namespace {

constexpr double kTol = 1e-2;

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override { TRITIUM_REQUIRE_GPU(); }
};

// True when every element of the F32 host tensor is NaN (the poison survived).
bool all_nan(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isnan(load_as_float(t, i))) return false;
  return true;
}

TEST_F(CudaOps, Embedding) {
  const int64_t V = 1000;
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t H : {64, 2048, 4096}) {
      for (int64_t T : {1, 7, 300}) {
        auto table = rand_vals(size_t(V * H), -1, 1, dt);
        std::vector<int32_t> ids(static_cast<size_t>(T));
        for (auto& i : ids) i = int32_t(rand_int(0, V - 1));
        ids[0] = 0;
        ids.back() = int32_t(V - 1);
        Tensor out = poisoned({T, H}, dt);
        ops::embedding(device_i32(ids, {T}), device_as(table, {V, H}, dt), out);
        Tensor ref = Tensor::empty({T, H}, DType::F32);
        Tensor ids_h = Tensor::from_blob(ids.data(), {T}, DType::I32, Device::cpu(), nullptr);
        ops::embedding(ids_h, host_f32(table, {V, H}), ref);
        EXPECT_EQ(rel_err(download(out), ref), 0.0) << dtype_label(dt) << " H " << H << " T " << T;
      }
    }
  }
}

TEST_F(CudaOps, RmsNormRows) {
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t N : {64, 1024, 2048, 4096, 8192}) {
      for (int64_t T : {1, 5, 64, 300}) {
        auto x = rand_vals(size_t(T * N), -2, 2, dt);
        auto w = rand_vals(size_t(N), 0.5f, 1.5f, dt);
        Tensor out = poisoned({T, N}, dt);
        ops::rms_norm(device_as(x, {T, N}, dt), device_as(w, {N}, dt), 1e-5f, out);
        Tensor ref = Tensor::empty({T, N}, DType::F32);
        ops::rms_norm(host_f32(x, {T, N}), host_f32(w, {N}), 1e-5f, ref);
        double e = rel_err(download(out), ref);
        EXPECT_LE(e, kTol) << dtype_label(dt) << " N " << N << " T " << T;
      }
    }
  }
}

TEST_F(CudaOps, RmsNormRowsOfStridedViews) {
  // x and out are column slices of wider buffers (row stride > N), as in the forward pass.
  const int64_t T = 37, N = 1024, W = N + 256;
  auto x = rand_vals(size_t(T * W), -2, 2);
  auto w = rand_vals(size_t(N), 0.5f, 1.5f);
  Tensor xd = device_as(x, {T, W}, DType::BF16);
  Tensor outbuf = poisoned({T, W}, DType::BF16);
  Tensor out = outbuf.narrow(1, 128, N);
  ops::rms_norm(xd.narrow(1, 64, N), device_as(w, {N}, DType::BF16), 1e-6f, out);
  Tensor ref = Tensor::empty({T, N}, DType::F32);
  ops::rms_norm(host_f32(x, {T, W}).narrow(1, 64, N), host_f32(w, {N}), 1e-6f, ref);
  Tensor got = download(outbuf);
  EXPECT_LE(rel_err(got.narrow(1, 128, N).contiguous(), ref), kTol);
  EXPECT_TRUE(all_nan(got.narrow(1, 0, 128).contiguous())) << "wrote left of the slice";
  EXPECT_TRUE(all_nan(got.narrow(1, 128 + N, W - 128 - N).contiguous())) << "wrote right of the slice";
}

TEST_F(CudaOps, RmsNormPerHeadOnQkvView) {
  // Qwen3 q/k norm: 3-D views [T, heads, hd] of the qkv buffer, normalized in place.
  for (int64_t hd : {16, 32, 64, 128, 256}) {
    for (auto [nh, nkv] : {std::pair<int64_t, int64_t>{8, 2}, {4, 4}}) {
      for (int64_t T : {1, 37}) {
        const int64_t qkv_dim = (nh + 2 * nkv) * hd;
        auto x = rand_vals(size_t(T * qkv_dim), -2, 2);
        auto qw = rand_vals(size_t(hd), 0.5f, 1.5f), kw = rand_vals(size_t(hd), 0.5f, 1.5f);
        Tensor dq = device_as(x, {T, qkv_dim}, DType::BF16);
        Tensor hq = host_f32(x, {T, qkv_dim});
        for (Tensor* t : {&dq, &hq}) {
          const DType wdt = t->device().is_cpu() ? DType::F32 : DType::BF16;
          Tensor q3 = t->narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});
          Tensor k3 = t->narrow(1, nh * hd, nkv * hd).view_strided({T, nkv, hd}, {qkv_dim, hd, 1});
          Tensor qwt = t->device().is_cpu() ? host_f32(qw, {hd}) : device_as(qw, {hd}, wdt);
          Tensor kwt = t->device().is_cpu() ? host_f32(kw, {hd}) : device_as(kw, {hd}, wdt);
          ops::rms_norm(q3, qwt, 1e-6f, q3);
          ops::rms_norm(k3, kwt, 1e-6f, k3);
        }
        Tensor got = download(dq);
        EXPECT_LE(rel_err(got.narrow(1, 0, (nh + nkv) * hd).contiguous(), hq.narrow(1, 0, (nh + nkv) * hd).contiguous()),
                  kTol)
            << "hd " << hd << " nh " << nh << " nkv " << nkv << " T " << T;
        EXPECT_EQ(rel_err(got.narrow(1, (nh + nkv) * hd, nkv * hd).contiguous(),
                          hq.narrow(1, (nh + nkv) * hd, nkv * hd).contiguous()),
                  0.0)
            << "v heads changed, hd " << hd;
      }
    }
  }
}

TEST_F(CudaOps, RmsNormContiguous3D) {
  const int64_t T = 9, H = 6, D = 128;
  auto x = rand_vals(size_t(T * H * D), -2, 2);
  auto w = rand_vals(size_t(D), 0.5f, 1.5f);
  Tensor out = poisoned({T, H, D}, DType::BF16);
  ops::rms_norm(device_as(x, {T, H, D}, DType::BF16), device_as(w, {D}, DType::BF16), 1e-5f, out);
  Tensor ref = Tensor::empty({T, H, D}, DType::F32);
  ops::rms_norm(host_f32(x, {T, H, D}), host_f32(w, {D}), 1e-5f, ref);
  EXPECT_LE(rel_err(download(out), ref), kTol);
}

TEST_F(CudaOps, AddRmsNorm) {
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t N : {64, 2048, 4096}) {
      for (int64_t T : {1, 5, 300}) {
        auto x = rand_vals(size_t(T * N), -2, 2, dt), r = rand_vals(size_t(T * N), -2, 2, dt);
        auto w = rand_vals(size_t(N), 0.5f, 1.5f, dt);
        Tensor res = device_as(r, {T, N}, dt);
        Tensor out = poisoned({T, N}, dt);
        ops::add_rms_norm(device_as(x, {T, N}, dt), res, device_as(w, {N}, dt), 1e-5f, out);
        Tensor rres = host_f32(r, {T, N});
        Tensor ref = Tensor::empty({T, N}, DType::F32);
        ops::add_rms_norm(host_f32(x, {T, N}), rres, host_f32(w, {N}), 1e-5f, ref);
        EXPECT_LE(rel_err(download(out), ref), kTol) << dtype_label(dt) << " N " << N << " T " << T;
        EXPECT_LE(rel_err(download(res), rres), kTol) << "residual, N " << N << " T " << T;
      }
    }
  }
}

TEST_F(CudaOps, SiluAndMul) {
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t I : {128, 1024, 14336}) {
      for (int64_t T : {1, 5, 300}) {
        auto g = rand_vals(size_t(T * 2 * I), -6, 6, dt);
        Tensor out = poisoned({T, I}, dt);
        ops::silu_and_mul(device_as(g, {T, 2 * I}, dt), out);
        Tensor ref = Tensor::empty({T, I}, DType::F32);
        ops::silu_and_mul(host_f32(g, {T, 2 * I}), ref);
        EXPECT_LE(rel_err(download(out), ref), kTol) << dtype_label(dt) << " I " << I << " T " << T;
      }
    }
  }
}

struct LinearCase {
  int64_t M, N, K;
  bool bias;
  bool strided_out;  // out is a column slice of a wider buffer (fused qkv / gate_up)
  DType dt = DType::BF16;
};

void run_linear_case(const LinearCase& c) {
  SCOPED_TRACE(::testing::Message() << "M " << c.M << " N " << c.N << " K " << c.K << (c.bias ? " bias" : "")
                                    << (c.strided_out ? " strided out" : "") << " " << dtype_label(c.dt));
  const float ws = std::sqrt(3.0f / float(c.K));
  auto x = rand_vals(size_t(c.M * c.K), -1, 1, c.dt);
  auto w = rand_vals(size_t(c.N * c.K), -ws, ws, c.dt);
  auto b = rand_vals(size_t(c.N), -1, 1, c.dt);
  const int64_t pad = c.strided_out ? 64 : 0, W = c.N + 2 * pad;
  Tensor outbuf = poisoned({c.M, W}, c.dt);
  Tensor out = outbuf.narrow(1, pad, c.N);
  Tensor bd = device_as(b, {c.N}, c.dt);
  ops::linear(device_as(x, {c.M, c.K}, c.dt), device_as(w, {c.N, c.K}, c.dt), c.bias ? &bd : nullptr, out);
  Tensor ref = Tensor::empty({c.M, c.N}, DType::F32);
  Tensor bh = host_f32(b, {c.N});
  ops::linear(host_f32(x, {c.M, c.K}), host_as(w, {c.N, c.K}, c.dt), c.bias ? &bh : nullptr, ref);
  Tensor got = download(outbuf);
  EXPECT_LE(rel_err(got.narrow(1, pad, c.N).contiguous(), ref), kTol);
  if (pad) {
    EXPECT_TRUE(all_nan(got.narrow(1, 0, pad).contiguous())) << "wrote left of the output slice";
    EXPECT_TRUE(all_nan(got.narrow(1, pad + c.N, pad).contiguous())) << "wrote right of the output slice";
  }
}

TEST_F(CudaOps, LinearModelShapes) {
  int i = 0;
  for (int64_t M : {1, 5, 64, 300}) {
    for (auto [N, K] : {std::pair<int64_t, int64_t>{4096, 2048}, {2048, 4096}, {3072, 1024}}) {
      ++i;
      run_linear_case({M, N, K, i % 2 == 0, i % 3 == 0});
    }
  }
}

TEST_F(CudaOps, LinearSmallAndOddShapes) {
  for (int64_t M : {1, 5, 17, 33, 64, 65, 129, 256, 300}) {
    for (auto [N, K] : {std::pair<int64_t, int64_t>{48, 64}, {37, 80}, {1, 16}, {200, 112}, {640, 128}})
      for (bool bias : {false, true}) run_linear_case({M, N, K, bias, false});
  }
  run_linear_case({300, 37, 80, true, true});
  run_linear_case({7, 37, 80, true, true});
}

TEST_F(CudaOps, LinearSplitKAndLargeM) {
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  run_linear_case({1, 2048, 8192, false, false});  // few N tiles: split-K
  run_linear_case({1, 2048, 8192, true, true});
  run_linear_case({8, 512, 4096, true, false});
  run_linear_case({40, 256, 2048, false, true});
  run_linear_case({1500, 2048, 256, true, false});  // M >= 1024: persistent (TMA on sm90) GEMM
  run_linear_case({2048, 3000, 1040, true, true});   // partial tiles in N and K, output a column slice
  run_linear_case({1111, 512, 4096, false, false});
  run_linear_case({1029, 4096, 512, false, true});
  run_linear_case({129, 5000, 256, true, false});
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  if (cuda::device_info(0).cc_major == 9)  // the pack has the TMA GEMM for sm90
    EXPECT_NE(rep.find("matmul_tma"), std::string::npos) << "M >= 1024 did not take the TMA GEMM:\n" << rep;
}

TEST_F(CudaOps, LinearF16) {
  for (int64_t M : {1, 5, 64, 300}) run_linear_case({M, 1024, 512, M % 2 == 1, M == 64, DType::F16});
}

// Whether profile report r lists a kernel variant whose name contains `part`.
bool profile_has(const std::string& r, const char* part) { return r.find(part) != std::string::npos; }

TEST_F(CudaOps, LinearAddRmsNormMatchesLinearThenAddNorm) {
  // residual += x W^T (+ b); out = rmsnorm(residual) w, against the CPU's linear then add_rms_norm.
  // The split-K shapes reduce the partials inside the norm kernel (checked in the profile).
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t M : {1, 5, 64, 100, 200, 300}) {
      for (auto [N, K] : {std::pair<int64_t, int64_t>{2048, 2048}, {512, 4096}, {64, 128}, {96, 256}}) {
        const bool bias = (M + N) % 3 == 0;
        SCOPED_TRACE(::testing::Message() << dtype_label(dt) << " M " << M << " N " << N << " K " << K
                                          << (bias ? " bias" : ""));
        const float ws = std::sqrt(3.0f / float(K));
        auto x = rand_vals(size_t(M * K), -1, 1, dt), w = rand_vals(size_t(N * K), -ws, ws, dt);
        auto b = rand_vals(size_t(N), -1, 1, dt), r = rand_vals(size_t(M * N), -2, 2, dt);
        auto nw = rand_vals(size_t(N), 0.5f, 1.5f, dt);
        Tensor bd = device_as(b, {N}, dt), res = device_as(r, {M, N}, dt);
        Tensor out = poisoned({M, N}, dt), scratch = poisoned({M, N}, dt);
        ops::linear_add_rms_norm(device_as(x, {M, K}, dt), device_as(w, {N, K}, dt), bias ? &bd : nullptr, res,
                                 device_as(nw, {N}, dt), 1e-5f, out, scratch);
        Tensor bh = host_f32(b, {N}), rres = host_f32(r, {M, N});
        Tensor lin = Tensor::empty({M, N}, DType::F32), ref = Tensor::empty({M, N}, DType::F32);
        ops::linear(host_f32(x, {M, K}), host_as(w, {N, K}, dt), bias ? &bh : nullptr, lin);
        ops::add_rms_norm(lin, rres, host_f32(nw, {N}), 1e-5f, ref);
        EXPECT_LE(rel_err(download(out), ref), kTol);
        EXPECT_LE(rel_err(download(res), rres), kTol) << "residual";
      }
    }
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_TRUE(profile_has(rep, "rms_norm_residual_splitk")) << "no shape took the fused split-K reduce:\n" << rep;
  EXPECT_TRUE(profile_has(rep, "rms_norm_residual_bf16")) << "no shape took linear + add_rms_norm:\n" << rep;
  if (cuda::device_info(0).cc_major == 9)  // M in (128, 256]: the TMA skinny GEMM (sm90 in the pack)
    EXPECT_TRUE(profile_has(rep, "gemv_tma")) << "M = 200 did not take gemv_tma:\n" << rep;
}

TEST_F(CudaOps, LinearSiluMulMatchesLinearThenSiluAndMul) {
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t M : {1, 5, 40, 64, 100, 256, 300, 1100}) {
      // I = 96: the prefill kernel's one 128-column gate tile also reads up rows (clipped)
      for (auto [I, K] : {std::pair<int64_t, int64_t>{1024, 512}, {2816, 256}, {96, 128}}) {
        SCOPED_TRACE(::testing::Message() << dtype_label(dt) << " M " << M << " I " << I << " K " << K);
        const float ws = std::sqrt(3.0f / float(K));
        auto x = rand_vals(size_t(M * K), -1, 1, dt), w = rand_vals(size_t(2 * I * K), -2 * ws, 2 * ws, dt);
        Tensor out = poisoned({M, I}, dt), scratch = poisoned({M, 2 * I}, dt);
        ops::linear_silu_mul(device_as(x, {M, K}, dt), device_as(w, {2 * I, K}, dt), out, scratch);
        Tensor gu = Tensor::empty({M, 2 * I}, DType::F32), ref = Tensor::empty({M, I}, DType::F32);
        ops::linear(host_f32(x, {M, K}), host_as(w, {2 * I, K}, dt), nullptr, gu);
        ops::silu_and_mul(gu, ref);
        EXPECT_LE(rel_err(download(out), ref), kTol);
      }
    }
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_TRUE(profile_has(rep, "gemv_silu_mul")) << "the fused kernel never ran:\n" << rep;
  if (cuda::device_info(0).cc_major == 9)  // M > 256: the TMA GEMM with SiLU * up in its epilogue
    EXPECT_TRUE(profile_has(rep, "matmul_silu_mul_tma")) << "M > 256 did not take the fused GEMM:\n" << rep;
  else
    EXPECT_TRUE(profile_has(rep, "silu_and_mul")) << "M > 256 should take linear + silu_and_mul:\n" << rep;
}

// Greedy lm_head (gemv_argmax + argmax_reduce): each row's argmax of the logits as the linear
// stores them, lowest id on ties. Small integer inputs keep every logit exact in bf16 / fp16
// (|x @ w^T| <= 128), so the answer is the CPU's first maximum whatever the tile and order of
// accumulation, and ties are common; N not a multiple of the tile width leaves a partial tile.
TEST_F(CudaOps, LinearArgmaxIsTheFirstMaximumOfTheLogits) {
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  const int64_t K = 64;
  for (DType dt : {DType::BF16, DType::F16}) {
    for (int64_t M : {1, 5, 40, 64, 100, 200, 300}) {
      for (int64_t N : {1000, 20011}) {
        SCOPED_TRACE(::testing::Message() << dtype_label(dt) << " M " << M << " N " << N);
        std::vector<float> x(size_t(M * K)), w(size_t(N * K));
        for (auto& v : x) v = float(rand_int(-2, 2));
        for (auto& v : w) v = float(rand_int(-1, 1));
        std::vector<int32_t> init(size_t(M), -1);
        Tensor ids = device_i32(init, {M});
        ops::linear_argmax(device_as(x, {M, K}, dt), device_as(w, {N, K}, dt), ids);
        Tensor got = ids.to(Device::cpu());
        int wrong = 0, tied = 0;
        for (int64_t m = 0; m < M; ++m) {
          int32_t first = 0, at_max = 0;
          float best = -1e30f;
          for (int64_t n = 0; n < N; ++n) {
            float v = 0;
            for (int64_t k = 0; k < K; ++k) v += x[size_t(m * K + k)] * w[size_t(n * K + k)];
            at_max = v > best ? 1 : at_max + (v == best);
            if (v > best) best = v, first = int32_t(n);
          }
          wrong += got.data<int32_t>()[m] != first;
          tied += at_max > 1;
        }
        EXPECT_EQ(wrong, 0);
        if (M >= 40) EXPECT_GT(tied, 0) << "no row's maximum was tied";
      }
    }
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_TRUE(profile_has(rep, "gemv_argmax")) << rep;
  EXPECT_TRUE(profile_has(rep, "argmax_reduce")) << rep;
}

TEST_F(CudaOps, GpusWithLessSharedMemoryTakeTilesThatFit) {
  // As an sm86 / sm89 / sm120 GPU sees the pack (99 KB of shared memory a block): the skinny
  // GEMM tiles tuned on the H100 that need more are left out of the catalog, and the linears
  // that would take them (a wide output at M = 1, M = 200 wide, gate|up + SiLU at M = 200)
  // run on tiles that fit and still match the CPU.
  using cuda::detail::Catalog;
  const int64_t limit = 99 * 1024;
  Catalog::rebuild(0, limit);
  struct Restore {
    ~Restore() { Catalog::rebuild(0, -1); }
  } restore;
  const std::vector<std::string> left_out = Catalog::for_device(0).too_large();
  ASSERT_FALSE(left_out.empty()) << "the pack has no variant above " << limit << " bytes for this GPU";
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  const DType dt = DType::BF16;
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 16384, 512}, {200, 16384, 512}}) {
    SCOPED_TRACE(::testing::Message() << "linear M " << M << " N " << N);
    auto x = rand_vals(size_t(M * K), -1, 1, dt), w = rand_vals(size_t(N * K), -0.1f, 0.1f, dt);
    Tensor out = poisoned({M, N}, dt), ref = Tensor::empty({M, N}, DType::F32);
    ops::linear(device_as(x, {M, K}, dt), device_as(w, {N, K}, dt), nullptr, out);
    ops::linear(host_f32(x, {M, K}), host_as(w, {N, K}, dt), nullptr, ref);
    EXPECT_LE(rel_err(download(out), ref), kTol);
  }
  {
    const int64_t M = 200, I = 1024, K = 512;
    auto x = rand_vals(size_t(M * K), -1, 1, dt), w = rand_vals(size_t(2 * I * K), -0.1f, 0.1f, dt);
    Tensor out = poisoned({M, I}, dt), scratch = poisoned({M, 2 * I}, dt);
    ops::linear_silu_mul(device_as(x, {M, K}, dt), device_as(w, {2 * I, K}, dt), out, scratch);
    Tensor gu = Tensor::empty({M, 2 * I}, DType::F32), ref = Tensor::empty({M, I}, DType::F32);
    ops::linear(host_f32(x, {M, K}), host_as(w, {2 * I, K}, dt), nullptr, gu);
    ops::silu_and_mul(gu, ref);
    EXPECT_LE(rel_err(download(out), ref), kTol) << "gate|up + SiLU at M = 200";
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  for (const std::string& name : left_out) EXPECT_FALSE(profile_has(rep, name.c_str())) << name << " ran:\n" << rep;
  EXPECT_TRUE(profile_has(rep, "gemv")) << rep;
}

TEST_F(CudaOps, KernelProfileCountsLaunches) {
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  Tensor x = device_as(rand_vals(64 * 512, -1, 1), {64, 512}, DType::BF16);
  Tensor w = device_as(rand_vals(512, 0.5f, 1.5f), {512}, DType::BF16);
  Tensor out = poisoned({64, 512}, DType::BF16);
  for (int i = 0; i < 3; ++i) ops::rms_norm(x, w, 1e-5f, out);
  std::string r = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  std::printf("%s", r.c_str());
  EXPECT_NE(r.find("rms_norm"), std::string::npos) << r;
  EXPECT_NE(r.find(" 3 "), std::string::npos) << "three launches expected:\n" << r;
}

TEST_F(CudaOps, UnsupportedShapesAndDtypesGiveClearErrors) {
  auto expect_error = [](auto&& fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      std::printf("  expected error: %s\n", e.what());
    }
  };
  const Device dev = Device::cuda(0);
  // K not a multiple of 16
  expect_error(
      [&] {
        Tensor x = Tensor::zeros({3, 40}, DType::BF16, dev), w = Tensor::zeros({8, 40}, DType::BF16, dev);
        Tensor o = Tensor::empty({3, 8}, DType::BF16, dev);
        ops::linear(x, w, nullptr, o);
      },
      "multiple of 16");
  // F32 activations
  expect_error(
      [&] {
        Tensor x = Tensor::zeros({3, 64}, DType::F32, dev), w = Tensor::zeros({64}, DType::F32, dev);
        Tensor o = Tensor::empty({3, 64}, DType::F32, dev);
        ops::rms_norm(x, w, 1e-5f, o);
      },
      "BF16 or F16");
  // weight dtype differs from activations
  expect_error(
      [&] {
        Tensor x = Tensor::zeros({3, 64}, DType::BF16, dev), w = Tensor::zeros({64}, DType::F32, dev);
        Tensor o = Tensor::empty({3, 64}, DType::BF16, dev);
        ops::rms_norm(x, w, 1e-5f, o);
      },
      "must have dtype BF16");
  // rows longer than any rms_norm variant
  expect_error(
      [&] {
        Tensor x = Tensor::zeros({1, 1 << 16}, DType::BF16, dev), w = Tensor::zeros({1 << 16}, DType::BF16, dev);
        Tensor o = Tensor::empty({1, 1 << 16}, DType::BF16, dev);
        ops::rms_norm(x, w, 1e-5f, o);
      },
      "BLOCK_N available");
  // attention head_dim with no kernel
  expect_error(
      [&] {
        Tensor q = Tensor::zeros({2, 2, 48}, DType::BF16, dev);
        Tensor kc = Tensor::zeros({4, 16, 2, 48}, DType::BF16, dev), vc = Tensor::zeros({4, 16, 2, 48}, DType::BF16, dev);
        Tensor bt = device_i32({0, 1}, {2, 1}), cu = device_i32({0, 1, 2}, {3}), lens = device_i32({1, 1}, {2});
        Tensor o = Tensor::empty({2, 96}, DType::BF16, dev);
        ops::attention(q, kc, vc, bt, cu, lens, 1, ops::AttentionArgs{0.1f, 0}, o);
      },
      "head_dim 48");
  // RoPE head_dim with no kernel
  expect_error(
      [&] {
        Tensor qkv = Tensor::zeros({2, 4 * 48}, DType::BF16, dev);
        Tensor cs = Tensor::zeros({8, 48}, DType::F32, dev);
        Tensor idx = device_i32({0, 1}, {2}), slots = device_i32({0, 1}, {2});
        Tensor kc = Tensor::zeros({4, 16, 1, 48}, DType::BF16, dev), vc = Tensor::zeros({4, 16, 1, 48}, DType::BF16, dev);
        ops::rope_write_kv(qkv, cs, idx, slots, kc, vc, ops::RopeArgs{2, 1, 48, 48, true});
      },
      "head_dim 48");
}

}  // namespace

#else  // built without the CUDA backend

TEST(CudaOps, SkippedWithoutCudaBuild) {
  std::printf("SKIPPED: tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)\n");
  GTEST_SKIP() << "built without CUDA";
}

#endif
