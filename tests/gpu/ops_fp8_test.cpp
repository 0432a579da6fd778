// CUDA fp8 linears (W8A8) against the CPU reference: the per-row quantizer (codes and scales)
// and linear_fp8 / linear_fp8_silu_mul over the same codes, on every kernel path (the tiled
// kernel's row tiles, the sm90 TMA kernel above 256 rows, bias, column-slice outputs), with
// outputs poisoned first. Shapes and strides are multiples of 16, as the kernels need (Model::
// build refuses fp8 weights otherwise). The GPU's products run on fp8 tensor cores with an f32 accumulator
// in another order than the CPU's, and the result is stored in bf16 / fp16: 1e-2 relative.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <cmath>
#include <string>
#include <vector>

#include "backends/cuda/kernel_profile.h"
#include "core/error.h"
#include "gpu_util.h"
#include "ops/ops.h"

using namespace tritium;
using namespace tritium::gputest;

namespace {

class CudaFp8 : public ::testing::Test {
 protected:
  void SetUp() override {
    TRITIUM_REQUIRE_GPU();
    const cuda::DeviceInfo d = cuda::device_info(0);
    if (d.cc_major * 10 + d.cc_minor < 89) {
      std::printf("SKIPPED: fp8 tensor cores need sm89 or newer (this GPU is sm_%d%d)\n", d.cc_major, d.cc_minor);
      GTEST_SKIP() << "no fp8 tensor cores";
    }
  }
};

// The activations quantized on the device, checked against the CPU's quantizer on the same
// values: scales and codes equal (both divide with IEEE rounding and round to nearest even).
// q_dev is a view of a wider buffer (row stride K + 32); *q_host gets its codes.
void quantize_both(const std::vector<float>& x, int64_t M, int64_t K, DType dt, Tensor& q_dev, Tensor& s_dev,
                   Tensor* q_host = nullptr) {
  Tensor xd = device_as(x, {M, K + 16}, dt).narrow(1, 8, K);  // a column slice: row stride K + 16
  Tensor qbuf = poisoned({M, K + 32}, DType::F8E4M3);
  q_dev = qbuf.narrow(1, 0, K);
  s_dev = poisoned({M}, DType::F32);
  ops::quantize_fp8_rows(xd, q_dev, s_dev);
  Tensor xh = host_f32(x, {M, K + 16}).narrow(1, 8, K).contiguous();
  Tensor qh = Tensor::empty({M, K}, DType::F8E4M3), sh = Tensor::empty({M}, DType::F32);
  ops::quantize_fp8_rows(xh, qh, sh);
  cuda::synchronize(0);
  Tensor qall = qbuf.to(Device::cpu()), sg = s_dev.to(Device::cpu());  // (views are copied on the host)
  Tensor qg = qall.narrow(1, 0, K).contiguous(), tail = qall.narrow(1, K, 32).contiguous();
  for (int64_t m = 0; m < M; ++m) {
    ASSERT_EQ(sg.data<float>()[m], sh.data<float>()[m]) << "row " << m;
    for (int64_t k = 0; k < K; ++k)
      ASSERT_EQ(int(qg.data<uint8_t>()[m * K + k]), int(qh.data<uint8_t>()[m * K + k])) << "row " << m << " col " << k;
  }
  if (q_host) *q_host = qg;
  for (int64_t i = 0; i < tail.numel(); ++i) ASSERT_EQ(tail.data<uint8_t>()[i], 0xFF) << "wrote past K";
}

struct Fp8Case {
  int64_t M, N, K;
  bool bias = false, strided_out = false, silu_mul = false;
  DType dt = DType::BF16;
};

void run_case(const Fp8Case& c) {
  SCOPED_TRACE(::testing::Message() << "M " << c.M << " N " << c.N << " K " << c.K << (c.bias ? " bias" : "")
                                    << (c.strided_out ? " strided out" : "") << (c.silu_mul ? " silu_mul" : "")
                                    << " " << dtype_label(c.dt));
  const int64_t rows = c.silu_mul ? 2 * c.N : c.N;
  auto x = rand_vals(size_t(c.M * (c.K + 16)), -2, 2, c.dt);
  auto w = rand_vals(size_t(rows * c.K), -0.1f, 0.1f, DType::F32);
  auto b = rand_vals(size_t(c.N), -1, 1, c.dt);
  Tensor xq, xs, xqh;
  quantize_both(x, c.M, c.K, c.dt, xq, xs, &xqh);
  // weights quantized on the host (as Model::build does), the same codes on both sides
  Tensor wq = Tensor::empty({rows, c.K}, DType::F8E4M3), wsc = Tensor::empty({rows}, DType::F32);
  ops::quantize_fp8_rows(host_f32(w, {rows, c.K}), wq, wsc);
  const int64_t pad = c.strided_out ? 48 : 0, W = c.N + 2 * pad;
  Tensor outbuf = poisoned({c.M, W}, c.dt);
  Tensor out = outbuf.narrow(1, pad, c.N);
  Tensor bd = device_as(b, {c.N}, c.dt);
  Tensor wqd = wq.to(Device::cuda(0)), wsd = wsc.to(Device::cuda(0));
  Tensor scratch = Tensor::empty({c.M, 2 * c.N}, c.dt, Device::cuda(0));
  if (c.silu_mul)
    ops::linear_fp8_silu_mul(xq, xs, wqd, wsd, out, scratch);
  else
    ops::linear_fp8(xq, xs, wqd, wsd, c.bias ? &bd : nullptr, out);
  // the CPU over the device's codes and scales
  cuda::synchronize(0);
  Tensor xsh = xs.to(Device::cpu());
  Tensor bh = host_f32(b, {c.N});
  Tensor ref = Tensor::empty({c.M, rows}, DType::F32);
  ops::linear_fp8(xqh, xsh, wq, wsc, c.bias ? &bh : nullptr, ref);
  if (c.silu_mul) {
    Tensor act = Tensor::empty({c.M, c.N}, DType::F32);
    ops::silu_and_mul(ref.to(c.dt).to(DType::F32), act);  // gate and up rounded as stored
    ref = act;
  }
  Tensor got = download(outbuf);
  EXPECT_LE(rel_err(got.narrow(1, pad, c.N).contiguous(), ref), 1e-2);
  for (int64_t m = 0; m < c.M && pad; ++m)
    for (int64_t j = 0; j < pad; ++j) {
      ASSERT_TRUE(std::isnan(got.data<float>()[m * W + j])) << "wrote left of the slice";
      ASSERT_TRUE(std::isnan(got.data<float>()[m * W + pad + c.N + j])) << "wrote right of the slice";
    }
}

TEST_F(CudaFp8, QuantizeRowsMatchesTheCpu) {
  for (DType dt : {DType::BF16, DType::F16})
    for (int64_t M : {1, 7, 300})
      for (int64_t K : {64, 2048, 14336}) {
        SCOPED_TRACE(::testing::Message() << "M " << M << " K " << K << " " << dtype_label(dt));
        auto x = rand_vals(size_t(M * (K + 16)), -3, 3, dt);
        for (int64_t k = 0; k < K + 16; ++k) x[size_t(k)] = 0.f;  // a row of zeros: scale 1, codes 0
        Tensor q, s;
        quantize_both(x, M, K, dt, q, s);
      }
}

TEST_F(CudaFp8, LinearEveryPath) {
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (int64_t M : {1, 5, 17, 33, 64, 65, 129, 256, 300, 1100})
    for (bool bias : {false, true}) run_case({M, 208, 128, bias, M % 2 == 1});
  run_case({64, 6144, 4096, true, false});
  run_case({256, 4096, 4096, false, true});
  run_case({2048, 3008, 1040, true, true});  // partial tiles in N and K
  run_case({40, 1024, 512, true, false, false, DType::F16});
  run_case({700, 1024, 512, false, true, false, DType::F16});
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_NE(rep.find("matmul_fp8_bf16"), std::string::npos) << rep;
  if (cuda::device_info(0).cc_major == 9)  // the pack has the TMA kernel for sm90
    EXPECT_NE(rep.find("matmul_fp8_tma"), std::string::npos) << "M > 256 did not take the TMA kernel:\n" << rep;
}

TEST_F(CudaFp8, LinearSiluMulEveryPath) {
  for (int64_t M : {1, 20, 64, 200, 256, 300, 2048}) run_case({M, 208, 256, false, M % 2 == 0, true});
  run_case({256, 14336, 4096, false, false, true});
  run_case({90, 512, 256, false, true, true, DType::F16});
}

TEST_F(CudaFp8, NormIntoFp8MatchesNormThenQuantize) {
  // rms_norm_fp8 (one kernel) against add_rms_norm / rms_norm then quantize_fp8_rows on the
  // device: the same residual, scales and codes (a code may move by one where the two round
  // the norm's product differently).
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (DType dt : {DType::BF16, DType::F16})
    for (int64_t N : {256, 4096, 14336})
      for (bool add : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "N " << N << (add ? " add" : "") << " " << dtype_label(dt));
        const int64_t M = 37;
        auto xv = rand_vals(size_t(M * N), -2, 2, dt), rv = rand_vals(size_t(M * N), -3, 3, dt);
        auto wv = rand_vals(size_t(N), 0.5f, 1.5f, dt);
        Tensor x = device_as(xv, {M, N}, dt), w = device_as(wv, {N}, dt);
        Tensor r1 = device_as(rv, {M, N}, dt), r2 = device_as(rv, {M, N}, dt);
        Tensor q1 = poisoned({M, N}, DType::F8E4M3), s1 = poisoned({M}, DType::F32);
        Tensor q2 = poisoned({M, N}, DType::F8E4M3), s2 = poisoned({M}, DType::F32);
        Tensor n = poisoned({M, N}, dt);
        ops::rms_norm_fp8(add ? &x : nullptr, r1, w, 1e-5f, q1, s1);
        if (add)
          ops::add_rms_norm(x, r2, w, 1e-5f, n);
        else
          ops::rms_norm(r2, w, 1e-5f, n);
        ops::quantize_fp8_rows(n, q2, s2);
        cuda::synchronize(0);
        EXPECT_EQ(rel_err(download(r1), download(r2)), 0.0);
        EXPECT_LE(rel_err(download(s1), download(s2)), 1e-6);
        Tensor c1 = q1.to(Device::cpu()), c2 = q2.to(Device::cpu());
        int64_t differ = 0;
        for (int64_t i = 0; i < c1.numel(); ++i) {
          const int a = c1.data<uint8_t>()[i], b = c2.data<uint8_t>()[i];
          ASSERT_LE(std::abs(a - b), 1) << "element " << i;
          differ += a != b;
        }
        EXPECT_LE(differ, c1.numel() / 100) << "codes that differ";
      }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_NE(rep.find("add_rms_norm_quant_fp8"), std::string::npos) << rep;
}

TEST_F(CudaFp8, BadArgumentsGiveClearErrors) {
  Tensor xq = Tensor::empty({4, 64}, DType::F8E4M3, Device::cuda(0)), xs = Tensor::empty({4}, DType::F32, Device::cuda(0));
  Tensor w = Tensor::empty({32, 64}, DType::F8E4M3, Device::cuda(0)), ws = Tensor::empty({32}, DType::F32, Device::cuda(0));
  Tensor out = Tensor::empty({4, 32}, DType::BF16, Device::cuda(0));
  Tensor wbf = Tensor::empty({32, 64}, DType::BF16, Device::cuda(0));
  auto expect_error = [](auto fn, const char* part) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([&] { ops::linear_fp8(xq, xs, wbf, ws, nullptr, out); }, "F8E4M3");
  expect_error([&] { ops::linear_fp8(xq, ws, w, ws, nullptr, out); }, "x scales");
  Tensor wide = Tensor::empty({4, 33}, DType::BF16, Device::cuda(0));
  expect_error([&] { ops::linear_fp8(xq, xs, w, ws, nullptr, wide); }, "out");
  // the kernels take whole 16-byte rows: an out row stride of 40 is refused by name
  Tensor odd = Tensor::empty({4, 40}, DType::BF16, Device::cuda(0)).narrow(1, 0, 32);
  expect_error([&] { ops::linear_fp8(xq, xs, w, ws, nullptr, odd); }, "multiple of 16");
  Tensor x = Tensor::empty({4, 64}, DType::BF16, Device::cuda(0));
  expect_error([&] { ops::quantize_fp8_rows(x, out, xs); }, "q");
}

}  // namespace

#else  // built without the CUDA backend

TEST(CudaFp8, SkippedWithoutCudaBuild) {
  std::printf("SKIPPED: tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)\n");
  GTEST_SKIP() << "built without CUDA";
}

#endif
