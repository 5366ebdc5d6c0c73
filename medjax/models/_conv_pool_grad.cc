// The gradient of conv (stride 1) -> + bias -> ReLU -> 2x2 max pooling, as two XLA FFI handlers for
// CPU, and the forward pass's stride-2 patches as a third.
//
// Only one of the four conv outputs of a pooling window receives gradient (the
// first maximum), and none where the ReLU is off. With the winning phase of
// each pooled output, idx[n, i, j, o] = 2p + q (or -1 for no gradient), and
// the input already padded,
//
//   dk[a, b, c, o]               = sum_{n,i,j} g[n, i, j, o] * xpad[n, 2i+p+a, 2j+q+b, c]
//   dxpad[n, 2i+p+a, 2j+q+b, c] += g[n, i, j, o] * kernel[a, b, c, o]
//
// i.e. kh*kw multiply-adds of a C-vector per live (n, i, j, o): a quarter of a
// dense convolution gradient, and 9/64 of the (4x4-window x 4-phase) matmul
// that XLA would run. The winning phase is random from one output to the next,
// so the live outputs are first listed without branches (a dead one is written
// and not counted), and the multiply-adds run over the lists.
//
// The patches, P[n, i, j, (u, v, c)] = xpad[n, 2i + u, 2j + v, c] for u < kh + 1, v < kw + 1, are
// whole rows of (kw + 1) * c contiguous floats: one copy each (XLA builds them from (kh+1)(kw+1)
// strided slices, and fuses the previous block's ReLU and max into every one of them).
//
// Vectors are GCC/Clang vector extensions (16 floats; AVX-512 or two AVX2
// registers with -march=native). Work is split over images between the
// calling thread and XLA's intra-op thread pool; each worker sums its own dk.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef float v16 __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

inline v16 Load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store(float* p, v16 v) { std::memcpy(p, &v, sizeof(v)); }

// Shapes: xpad (n, hp, wp, c), idx and g (n, h2, w2, o), kernel (kh, kw, c, o).
struct Geometry {
  int64_t n, hp, wp, c, kh, kw, o, h2, w2;
  int64_t taps() const { return kh * kw; }
  int64_t image() const { return hp * wp * c; }
  int64_t window(int64_t i, int64_t j) const { return (2 * i * wp + 2 * j) * c; }  // offset of window (i, j)
  int64_t phase(int ph) const { return ((ph >> 1) * wp + (ph & 1)) * c; }          // of its phase (p, q)
  int64_t tap(int64_t t) const { return ((t / kw) * wp + t % kw) * c; }             // of kernel tap (a, b)
};

// A winning phase, branch-free: "no gradient" (-1) becomes phase 3, whose pixels lie inside the
// padded input for every window; the callers then drop it or multiply by g = 0.
inline int Phase(int8_t ph) { return ph & 3; }

struct Job {
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  int active = 0;
  std::atomic<int64_t> next{0};
};

// fn(worker, lo, hi) over [0, total) in chunks of `grain`, on the calling thread (worker 0) and
// workers - 1 pool tasks. A task that starts after the caller has finished does nothing, so no
// worker waits for another to be scheduled and nothing touches the caller's memory after return.
template <typename Fn>
void ParallelFor(ffi::ThreadPool& pool, int workers, int64_t total, int64_t grain, const Fn& fn) {
  auto job = std::make_shared<Job>();
  auto run = [job, total, grain, &fn](int worker) {
    for (;;) {
      int64_t lo = job->next.fetch_add(grain);
      if (lo >= total) return;
      fn(worker, lo, std::min(total, lo + grain));
    }
  };
  for (int t = 1; t < workers; ++t) {
    pool.Schedule([job, run, t]() {
      {
        std::lock_guard<std::mutex> lock(job->mu);
        if (job->closed) return;
        ++job->active;
      }
      run(t);
      {
        std::lock_guard<std::mutex> lock(job->mu);
        --job->active;
      }
      job->cv.notify_all();
    });
  }
  run(0);
  std::unique_lock<std::mutex> lock(job->mu);
  job->closed = true;
  job->cv.wait(lock, [&] { return job->active == 0; });
}

// dk for c % 16 == 0 and a kh x kw = T kernel: per (image, o) the windows where o gets gradient are
// listed first (the pixel its phase starts at, and g); then per 16 channels the T accumulators stay
// in registers while the listed windows stream by. acc is [o][c / 16][T][16].
template <int T>
void KernelGradVector(const Geometry& g, const float* x, const int8_t* idx, const float* gr, float* acc,
                      int64_t n0, int64_t n1) {
  const int64_t blocks = g.c / kLanes;
  int64_t tap[T];
  for (int t = 0; t < T; ++t) tap[t] = g.tap(t);
  std::vector<int64_t> where(g.h2 * g.w2 + 1);
  std::vector<float> grad(g.h2 * g.w2 + 1);
  for (int64_t n = n0; n < n1; ++n) {
    const float* img = x + n * g.image();
    const int8_t* id = idx + n * g.h2 * g.w2 * g.o;
    const float* gg = gr + n * g.h2 * g.w2 * g.o;
    for (int64_t o = 0; o < g.o; ++o) {
      int64_t count = 0;
      for (int64_t i = 0; i < g.h2; ++i)
        for (int64_t j = 0; j < g.w2; ++j) {  // branch-free: a dead window is written and not counted
          const int64_t r = (i * g.w2 + j) * g.o + o;
          where[count] = g.window(i, j) + g.phase(Phase(id[r]));
          grad[count] = gg[r];
          count += id[r] >= 0;
        }
      for (int64_t k = 0; k < blocks; ++k) {
        float* dst = acc + (o * blocks + k) * T * kLanes;
        v16 s[T];
        for (int t = 0; t < T; ++t) s[t] = Load(dst + t * kLanes);
        for (int64_t e = 0; e < count; ++e) {
          const v16 gv = v16{} + grad[e];
          const float* base = img + where[e] + k * kLanes;
          for (int t = 0; t < T; ++t) s[t] += gv * Load(base + tap[t]);
        }
        for (int t = 0; t < T; ++t) Store(dst + t * kLanes, s[t]);
      }
    }
  }
}

// dk for few input channels and o % 16 == 0: per (input channel, 16 output channels) the T
// accumulators stay in registers; per window and phase, the gradient of the outputs that phase won
// (a vector select) times each input pixel. acc is [T][c][o] (HWIO).
template <int T>
void KernelGradByOutput(const Geometry& g, const float* x, const int8_t* idx, const float* gr, float* acc,
                        int64_t n0, int64_t n1) {
  typedef int8_t v16c __attribute__((vector_size(16)));
  typedef int32_t v16i __attribute__((vector_size(64)));
  int64_t tap[T];
  for (int t = 0; t < T; ++t) tap[t] = g.tap(t);
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t k = 0; k < g.o / kLanes; ++k) {
      v16 s[T];
      for (int t = 0; t < T; ++t) s[t] = Load(acc + (t * g.c + c) * g.o + k * kLanes);
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t i = 0; i < g.h2; ++i)
          for (int64_t j = 0; j < g.w2; ++j) {
            const int64_t r = ((n * g.h2 + i) * g.w2 + j) * g.o + k * kLanes;
            v16c ic;
            std::memcpy(&ic, idx + r, sizeof(ic));
            const v16i phase = __builtin_convertvector(ic, v16i);
            const v16i gv = reinterpret_cast<v16i>(Load(gr + r));
            const float* base = x + n * g.image() + g.window(i, j) + c;
            for (int ph = 0; ph < 4; ++ph) {
              const v16 gp = reinterpret_cast<v16>(gv & (phase == ph));
              const float* b = base + g.phase(ph);
              for (int t = 0; t < T; ++t) s[t] += (v16{} + b[tap[t]]) * gp;
            }
          }
      for (int t = 0; t < T; ++t) Store(acc + (t * g.c + c) * g.o + k * kLanes, s[t]);
    }
}

// fn(n, r, base) for each pooled output r = (n, i, j, o) of images [n0, n1) that gets gradient, with
// base the offset of its winning phase's first pixel in the (padded) input: the scalar fallbacks.
template <typename Fn>
void ForEachLive(const Geometry& g, const int8_t* idx, int64_t n0, int64_t n1, const Fn& fn) {
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t i = 0; i < g.h2; ++i)
      for (int64_t j = 0; j < g.w2; ++j)
        for (int64_t o = 0; o < g.o; ++o) {
          const int64_t r = ((n * g.h2 + i) * g.w2 + j) * g.o + o;
          if (idx[r] >= 0) fn(o, r, n * g.image() + g.window(i, j) + g.phase(idx[r]));
        }
}

// dk for any shape (scalar): acc is [T][c][o].
void KernelGradScalar(const Geometry& g, const float* x, const int8_t* idx, const float* gr, float* acc,
                      int64_t n0, int64_t n1) {
  ForEachLive(g, idx, n0, n1, [&](int64_t o, int64_t r, int64_t base) {
    for (int64_t t = 0; t < g.taps(); ++t)
      for (int64_t c = 0; c < g.c; ++c) acc[(t * g.c + c) * g.o + o] += gr[r] * x[base + g.tap(t) + c];
  });
}

// One phase's share of a window's input gradient, 3x3 kernels: for each output channel o that
// phase won, acc[pixel (a + p, b + q) of the 4x4 window] += g[o] * kernel[a, b, :, o]. With P a
// constant every index is one, so acc stays in registers.
template <int P>
inline void AddPhase(v16 (&acc)[16], const int* outs, int count, const float* gw, const float* kt, int64_t stride) {
  constexpr int p = P >> 1, q = P & 1;
  for (int e = 0; e < count; ++e) {
    const v16 gv = v16{} + gw[outs[e]];
    const float* kk = kt + outs[e] * stride;
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) acc[(t / 3 + p) * 4 + t % 3 + q] += gv * Load(kk + t * kLanes);
  }
}

// dxpad for images [n0, n1), 3x3 kernels and c % 16 == 0; kt is the kernel as [o][c / 16][9][16].
// Per window, its outputs are first listed by winning phase (the dead ones dropped), then per 16
// channels the 4x4 pixels the window covers are summed in 16 registers and added to dxpad once.
void InputGrad3x3(const Geometry& g, const float* kt, const int8_t* idx, const float* gr, float* dx,
                  int64_t n0, int64_t n1) {
  const int64_t blocks = g.c / kLanes, stride = blocks * 9 * kLanes;
  std::vector<int> outs(4 * g.o + 1);
  for (int64_t n = n0; n < n1; ++n) {
    float* img = dx + n * g.image();
    std::fill(img, img + g.image(), 0.0f);
    for (int64_t i = 0; i < g.h2; ++i)
      for (int64_t j = 0; j < g.w2; ++j) {
        const int64_t r0 = ((n * g.h2 + i) * g.w2 + j) * g.o;
        int count[4] = {0, 0, 0, 0};
        for (int64_t o = 0; o < g.o; ++o) {  // branch-free: a dead output is written and not counted
          const int8_t ph = idx[r0 + o];
          outs[Phase(ph) * g.o + count[Phase(ph)]] = static_cast<int>(o);
          count[Phase(ph)] += ph >= 0;
        }
        for (int64_t k = 0; k < blocks; ++k) {
          v16 acc[16] = {};
          const float* kb = kt + k * 9 * kLanes;
          AddPhase<0>(acc, outs.data(), count[0], gr + r0, kb, stride);
          AddPhase<1>(acc, outs.data() + g.o, count[1], gr + r0, kb, stride);
          AddPhase<2>(acc, outs.data() + 2 * g.o, count[2], gr + r0, kb, stride);
          AddPhase<3>(acc, outs.data() + 3 * g.o, count[3], gr + r0, kb, stride);
          float* base = img + g.window(i, j) + k * kLanes;
          for (int u = 0; u < 4; ++u)
            for (int v = 0; v < 4; ++v) {
              float* d = base + (u * g.wp + v) * g.c;
              Store(d, Load(d) + acc[u * 4 + v]);
            }
        }
      }
  }
}

// dxpad for any shape (scalar), from the kernel as [T][c][o] (HWIO).
void InputGradScalar(const Geometry& g, const float* kernel, const int8_t* idx, const float* gr, float* dx,
                     int64_t n0, int64_t n1) {
  std::fill(dx + n0 * g.image(), dx + n1 * g.image(), 0.0f);
  ForEachLive(g, idx, n0, n1, [&](int64_t o, int64_t r, int64_t base) {
    for (int64_t t = 0; t < g.taps(); ++t)
      for (int64_t c = 0; c < g.c; ++c) dx[base + g.tap(t) + c] += gr[r] * kernel[(t * g.c + c) * g.o + o];
  });
}

// The geometry from xpad (or dxpad), the kernel (or dk), idx and g, with every shape checked.
ffi::Error Decode(ffi::Span<const int64_t> xd, ffi::Span<const int64_t> kd, ffi::Span<const int64_t> id,
                  ffi::Span<const int64_t> gd, Geometry& g) {
  if (xd.size() != 4 || kd.size() != 4 || id.size() != 4 || gd.size() != 4)
    return ffi::Error::InvalidArgument("conv_pool_grad: every operand must be 4-D");
  for (int d = 0; d < 4; ++d)
    if (id[d] != gd[d]) return ffi::Error::InvalidArgument("conv_pool_grad: idx and g shapes differ");
  g = Geometry{xd[0], xd[1], xd[2], xd[3], kd[0], kd[1], kd[3], id[1], id[2]};
  if (id[0] != g.n || kd[2] != g.c || kd[3] != id[3])
    return ffi::Error::InvalidArgument("conv_pool_grad: batch or channel counts differ");
  if (2 * g.h2 + g.kh - 1 > g.hp || 2 * g.w2 + g.kw - 1 > g.wp)
    return ffi::Error::InvalidArgument("conv_pool_grad: the pooled output is larger than the padded input allows");
  return ffi::Error::Success();
}

int Workers(ffi::ThreadPool& pool, int64_t n) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(pool.num_threads(), n)));
}

int64_t Grain(int64_t n, int workers) { return std::max<int64_t>(1, n / (8 * workers)); }

ffi::Error KernelGradImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::S8> idx,
                          ffi::Buffer<ffi::F32> gr, ffi::ResultBuffer<ffi::F32> dk) {
  Geometry g;
  if (auto e = Decode(x.dimensions(), dk->dimensions(), idx.dimensions(), gr.dimensions(), g); e.failure()) return e;
  enum { kVector, kByOutput, kScalar } path =
      g.taps() != 9 ? kScalar : g.c % kLanes == 0 ? kVector : g.o % kLanes == 0 ? kByOutput : kScalar;
  const int workers = Workers(pool, g.n);
  const int64_t size = g.taps() * g.c * g.o;
  std::vector<std::vector<float>> acc(workers, std::vector<float>(size, 0.0f));
  const float* xp = x.typed_data();
  const int8_t* ip = idx.typed_data();
  const float* gp = gr.typed_data();
  ParallelFor(pool, workers, g.n, Grain(g.n, workers), [&](int w, int64_t lo, int64_t hi) {
    if (path == kVector) KernelGradVector<9>(g, xp, ip, gp, acc[w].data(), lo, hi);
    else if (path == kByOutput) KernelGradByOutput<9>(g, xp, ip, gp, acc[w].data(), lo, hi);
    else KernelGradScalar(g, xp, ip, gp, acc[w].data(), lo, hi);
  });
  float* out = dk->typed_data();
  const int64_t blocks = g.c / kLanes;
  for (int64_t t = 0; t < g.taps(); ++t)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t o = 0; o < g.o; ++o) {
        const int64_t src = path == kVector ? ((o * blocks + c / kLanes) * g.taps() + t) * kLanes + c % kLanes
                                            : (t * g.c + c) * g.o + o;
        float sum = 0.0f;
        for (int w = 0; w < workers; ++w) sum += acc[w][src];
        out[(t * g.c + c) * g.o + o] = sum;
      }
  return ffi::Error::Success();
}

ffi::Error InputGradImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> kernel, ffi::Buffer<ffi::S8> idx,
                         ffi::Buffer<ffi::F32> gr, ffi::ResultBuffer<ffi::F32> dx) {
  Geometry g;
  if (auto e = Decode(dx->dimensions(), kernel.dimensions(), idx.dimensions(), gr.dimensions(), g); e.failure())
    return e;
  const bool vector = g.c % kLanes == 0 && g.kh == 3 && g.kw == 3;  // InputGrad3x3's 4x4 window
  const float* k = kernel.typed_data();
  std::vector<float> kt;
  if (vector) {  // [o][c / 16][T][16]
    kt.resize(g.taps() * g.c * g.o);
    const int64_t blocks = g.c / kLanes;
    for (int64_t t = 0; t < g.taps(); ++t)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t o = 0; o < g.o; ++o)
          kt[((o * blocks + c / kLanes) * g.taps() + t) * kLanes + c % kLanes] = k[(t * g.c + c) * g.o + o];
  }
  const int workers = Workers(pool, g.n);
  const int8_t* ip = idx.typed_data();
  const float* gp = gr.typed_data();
  float* out = dx->typed_data();
  ParallelFor(pool, workers, g.n, Grain(g.n, workers), [&](int, int64_t lo, int64_t hi) {
    if (vector) InputGrad3x3(g, kt.data(), ip, gp, out, lo, hi);
    else InputGradScalar(g, k, ip, gp, out, lo, hi);
  });
  return ffi::Error::Success();
}

ffi::Error PatchesImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::ResultBuffer<ffi::F32> patches,
                       int64_t window_h, int64_t window_w, int64_t top, int64_t left) {
  const auto xd = x.dimensions(), pd = patches->dimensions();
  if (xd.size() != 4 || pd.size() != 4 || pd[0] != xd[0] || pd[3] != window_h * window_w * xd[3] ||
      window_h < 1 || window_w < 1 || top < 0 || left < 0)
    return ffi::Error::InvalidArgument("conv_pool_patches: inconsistent shapes or window");
  const int64_t n = xd[0], h = xd[1], w = xd[2], c = xd[3], h2 = pd[1], w2 = pd[2];
  const float* src = x.typed_data();
  float* dst = patches->typed_data();
  const int workers = Workers(pool, n);
  ParallelFor(pool, workers, n, Grain(n, workers), [&](int, int64_t lo, int64_t hi) {
    for (int64_t img = lo; img < hi; ++img)
      for (int64_t i = 0; i < h2; ++i)
        for (int64_t j = 0; j < w2; ++j) {
          float* out = dst + ((img * h2 + i) * w2 + j) * window_h * window_w * c;
          const int64_t col0 = 2 * j - left;
          const bool inside = col0 >= 0 && col0 + window_w <= w;
          for (int64_t u = 0; u < window_h; ++u, out += window_w * c) {
            const int64_t row = 2 * i + u - top;
            if (row < 0 || row >= h) {
              std::fill(out, out + window_w * c, 0.0f);
            } else if (inside && window_w * c == 4) {  // grey images, 3x3 kernels: one 16-byte move
              std::memcpy(out, src + ((img * h + row) * w + col0) * c, 4 * sizeof(float));
            } else if (inside) {
              std::copy_n(src + ((img * h + row) * w + col0) * c, window_w * c, out);
            } else {
              for (int64_t v = 0; v < window_w; ++v) {
                const int64_t col = col0 + v;
                if (col < 0 || col >= w) std::fill(out + v * c, out + (v + 1) * c, 0.0f);
                else std::copy_n(src + ((img * h + row) * w + col) * c, c, out + v * c);
              }
            }
          }
        }
  });
  return ffi::Error::Success();
}

// Both gradients: (xpad or kernel, idx, g) -> dk or dxpad.
auto GradBinding() {
  return ffi::Ffi::Bind()
      .Ctx<ffi::ThreadPool>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Arg<ffi::Buffer<ffi::S8>>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Ret<ffi::Buffer<ffi::F32>>();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedjaxConvPoolKernelGrad, KernelGradImpl, GradBinding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(MedjaxConvPoolInputGrad, InputGradImpl, GradBinding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(MedjaxConvPoolPatches, PatchesImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()   // x
                                  .Ret<ffi::Buffer<ffi::F32>>()   // patches
                                  .Attr<int64_t>("window_h")
                                  .Attr<int64_t>("window_w")
                                  .Attr<int64_t>("top")
                                  .Attr<int64_t>("left"));
