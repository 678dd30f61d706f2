// Shared by the families of libcurvnative: status handling (nothing throws across the ABI), checked integer
// arithmetic, convolution and pooling geometry, per-thread scratch, OpenBLAS thread-count sections, the
// execution plan of the convolution kernels and im2col/col2im. Everything is inline: one definition across the
// family sources, and the library exports only the C ABI.
#pragma once

#include "curvnative.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <type_traits>


#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

#include "parallel.hpp"

namespace cn {

// ---------------------------------------------------------------------------------------------
// Error handling

struct Error {
    int status;
};

[[noreturn]] inline void fail(int status) { throw Error{status}; }

template <class F>
int guarded(F&& f) noexcept {
    try {
        f();
        return CN_OK;
    } catch (const Error& e) {
        return e.status;
    } catch (const std::bad_alloc&) {
        return CN_ERR_OUT_OF_MEMORY;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

inline int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail(CN_ERR_TOO_LARGE);
    return r;
}
inline int64_t add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail(CN_ERR_TOO_LARGE);
    return r;
}
inline int as_blas_int(int64_t v) {
    if (v < 0 || v > INT_MAX) fail(CN_ERR_TOO_LARGE);
    return static_cast<int>(v);
}
inline void require(bool ok) {
    if (!ok) fail(CN_ERR_INVALID_ARGUMENT);
}
// A pointer may be null only when it addresses nothing.
template <class P>
void require_ptr(P* p, int64_t count) {
    if (count > 0 && p == nullptr) fail(CN_ERR_INVALID_ARGUMENT);
}

}  // namespace cn

// The GEMM/SYRK dispatch checks its sizes with as_blas_int above.
#include "dense.hpp"

namespace cn {

// Floor / ceil division for a possibly negative numerator and a positive denominator.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// ---------------------------------------------------------------------------------------------
// Geometry

struct Conv {
    int64_t n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, ho, wo;
    int64_t hw;      // h * w
    int64_t howo;    // ho * wo
    int64_t k;       // cin * kh * kw
    int64_t x_size;  // n * cin * h * w
    int64_t y_size;  // n * cout * ho * wo
    int64_t w_size;  // cout * k
    int64_t cols_size;  // n * k * howo
    bool pointwise;     // 1x1, stride 1, no padding: cols == x
};

// need_cout: c_out is part of the geometry (it is ignored by unfold/fold).
inline void check_conv(const cn_conv2d_geom* g, bool need_cout, Conv& c) {
    require(g != nullptr);
    require(g->n >= 0 && g->c_in >= 1 && g->h >= 1 && g->w >= 1 && g->kh >= 1 && g->kw >= 1);
    require(g->stride_h >= 1 && g->stride_w >= 1 && g->pad_h >= 0 && g->pad_w >= 0);
    if (need_cout) require(g->c_out >= 1);
    int64_t hp = add(g->h, mul(2, g->pad_h)), wp = add(g->w, mul(2, g->pad_w));
    require(hp >= g->kh && wp >= g->kw);
    require(g->h_out == (hp - g->kh) / g->stride_h + 1 && g->w_out == (wp - g->kw) / g->stride_w + 1);
    c.n = g->n; c.cin = g->c_in; c.h = g->h; c.w = g->w; c.cout = need_cout ? g->c_out : 1;
    c.kh = g->kh; c.kw = g->kw; c.sh = g->stride_h; c.sw = g->stride_w; c.ph = g->pad_h; c.pw = g->pad_w;
    c.ho = g->h_out; c.wo = g->w_out;
    c.hw = mul(c.h, c.w);
    c.howo = mul(c.ho, c.wo);
    c.k = mul(mul(c.cin, c.kh), c.kw);
    c.x_size = mul(mul(c.n, c.cin), c.hw);
    c.y_size = mul(mul(c.n, c.cout), c.howo);
    c.w_size = mul(c.cout, c.k);
    c.cols_size = mul(mul(c.n, c.k), c.howo);
    // Everything must also be addressable in bytes.
    mul(std::max({c.x_size, c.y_size, c.w_size, c.cols_size}), static_cast<int64_t>(sizeof(double)));
    c.pointwise = c.kh == 1 && c.kw == 1 && c.sh == 1 && c.sw == 1 && c.ph == 0 && c.pw == 0;
}

struct Pool {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, ho, wo;
    int64_t x_size, y_size;
};

inline void check_pool(const cn_pool2d_geom* g, Pool& p) {
    require(g != nullptr);
    require(g->n >= 0 && g->c >= 1 && g->h >= 1 && g->w >= 1 && g->kh >= 1 && g->kw >= 1);
    require(g->stride_h >= 1 && g->stride_w >= 1 && g->pad_h >= 0 && g->pad_w >= 0);
    require(g->pad_h <= g->kh / 2 && g->pad_w <= g->kw / 2);
    int64_t hp = add(g->h, mul(2, g->pad_h)), wp = add(g->w, mul(2, g->pad_w));
    require(hp >= g->kh && wp >= g->kw);
    require(g->h_out == (hp - g->kh) / g->stride_h + 1 && g->w_out == (wp - g->kw) / g->stride_w + 1);
    p.n = g->n; p.c = g->c; p.h = g->h; p.w = g->w; p.kh = g->kh; p.kw = g->kw;
    p.sh = g->stride_h; p.sw = g->stride_w; p.ph = g->pad_h; p.pw = g->pad_w; p.ho = g->h_out; p.wo = g->w_out;
    p.x_size = mul(mul(mul(p.n, p.c), p.h), p.w);
    p.y_size = mul(mul(mul(p.n, p.c), p.ho), p.wo);
    mul(std::max(p.x_size, p.y_size), static_cast<int64_t>(sizeof(double)));
}

// ---------------------------------------------------------------------------------------------
// Scratch: per-thread, reused across calls; buffers above kKeepBytes are released after the call.

constexpr size_t kKeepBytes = size_t{64} << 20;

struct ScratchSlot {
    void* ptr = nullptr;
    size_t cap = 0;
    ~ScratchSlot() { std::free(ptr); }
};

inline thread_local ScratchSlot t_scratch[2];

class Scratch {
public:
    template <class T>
    static T* get(int slot, int64_t count, Scratch& lease) {
        size_t bytes = static_cast<size_t>(mul(std::max<int64_t>(count, 1), sizeof(T)));
        bytes = (bytes + 63) / 64 * 64;
        ScratchSlot& s = t_scratch[slot];
        if (s.cap < bytes) {
            std::free(s.ptr);
            s.ptr = nullptr;
            s.cap = 0;
            void* p = std::aligned_alloc(64, bytes);
            if (p == nullptr) throw std::bad_alloc();
            s.ptr = p;
            s.cap = bytes;
        }
        lease.used_[slot] = true;
        return static_cast<T*>(s.ptr);
    }
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() {
        for (int i = 0; i < 2; ++i) {
            ScratchSlot& s = t_scratch[i];
            if (used_[i] && s.cap > kKeepBytes) {
                std::free(s.ptr);
                s.ptr = nullptr;
                s.cap = 0;
            }
        }
    }

private:
    bool used_[2] = {false, false};
};

// ---------------------------------------------------------------------------------------------
// im2col / col2im on one image. cols row r = (c*kh + i)*kw + j, column oh*wo + ow, row stride ld.

// Output columns [lo, hi) of a kernel tap j whose input column ow*s - p + j lies in [0, w).
inline void valid_range(int64_t j, int64_t s, int64_t p, int64_t w, int64_t wo, int64_t& lo, int64_t& hi) {
    lo = std::clamp<int64_t>(ceil_div(p - j, s), 0, wo);
    hi = std::clamp<int64_t>(floor_div(w - 1 + p - j, s) + 1, lo, wo);
}

template <class T>
void im2col_rows(const Conv& c, const T* x, T* cols, int64_t ld, int64_t row_begin, int64_t row_end) {
    for (int64_t r = row_begin; r < row_end; ++r) {
        const int64_t ch = r / (c.kh * c.kw);
        const int64_t i = (r / c.kw) % c.kh;
        const int64_t j = r % c.kw;
        const T* plane = x + ch * c.hw;
        T* dst = cols + r * ld;
        int64_t lo, hi;
        valid_range(j, c.sw, c.pw, c.w, c.wo, lo, hi);
        for (int64_t oh = 0; oh < c.ho; ++oh, dst += c.wo) {
            const int64_t ih = oh * c.sh - c.ph + i;
            if (ih < 0 || ih >= c.h || lo >= hi) {
                std::fill(dst, dst + c.wo, T(0));
                continue;
            }
            // Input column of output column ow is ow*sw + off; it is inside the row for ow in [lo, hi).
            const T* row = plane + ih * c.w;
            const int64_t off = j - c.pw;
            std::fill(dst, dst + lo, T(0));
            if (c.sw == 1) {
                std::memcpy(dst + lo, row + (lo + off), static_cast<size_t>(hi - lo) * sizeof(T));
            } else {
                for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = row[ow * c.sw + off];
            }
            std::fill(dst + hi, dst + c.wo, T(0));
        }
    }
}

// x[ch] for ch in [ch_begin, ch_end) = sum of the matching cols rows (planes are zeroed first).
template <class T>
void col2im_channels(const Conv& c, const T* cols, int64_t ld, T* x, int64_t ch_begin, int64_t ch_end) {
    for (int64_t ch = ch_begin; ch < ch_end; ++ch) {
        T* plane = x + ch * c.hw;
        std::fill(plane, plane + c.hw, T(0));
        for (int64_t i = 0; i < c.kh; ++i) {
            for (int64_t j = 0; j < c.kw; ++j) {
                const T* src = cols + ((ch * c.kh + i) * c.kw + j) * ld;
                int64_t lo, hi;
                valid_range(j, c.sw, c.pw, c.w, c.wo, lo, hi);
                if (lo >= hi) continue;
                for (int64_t oh = 0; oh < c.ho; ++oh, src += c.wo) {
                    const int64_t ih = oh * c.sh - c.ph + i;
                    if (ih < 0 || ih >= c.h) continue;
                    T* row = plane + ih * c.w;
                    const int64_t off = j - c.pw;
                    if (c.sw == 1) {
                        T* d = row + (lo + off);
                        const T* s = src + lo;
                        const int64_t len = hi - lo;
                        for (int64_t q = 0; q < len; ++q) d[q] += s[q];
                    } else {
                        for (int64_t ow = lo; ow < hi; ++ow) row[ow * c.sw + off] += src[ow];
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Execution plan.
//
// The batch is cut into chunks of nb images that share one GEMM (small images are batched so the GEMM
// has enough columns; a chunk of one image writes straight into the output). When there are at least
// two chunks and enough work, the chunks are split between the pool's threads and every thread runs
// im2col -> GEMM -> col2im for its own chunks with a single-threaded GEMM, so the unfolded data stays
// in that core's cache and nothing runs serially. OpenBLAS's own threading does poorly on these
// short-and-wide GEMMs, so it is switched to one thread for the duration (see SerialBlas). With a
// single chunk (e.g. one large image) the GEMM is threaded by OpenBLAS and the copies by the pool.

constexpr int64_t kTargetColumns = 1024;
constexpr int64_t kChunkBudgetBytes = int64_t{2} << 20;
constexpr double kMinParallelFlops = 2.0e6;

template <class T>
int64_t chunk_images(const Conv& c) {
    if (c.n <= 1 || c.howo >= kTargetColumns) return 1;
    int64_t want = (kTargetColumns + c.howo - 1) / c.howo;
    int64_t per_image = mul(mul(std::max(c.k, c.cout), c.howo), sizeof(T));
    int64_t fit = std::max<int64_t>(1, kChunkBudgetBytes / std::max<int64_t>(per_image, 1));
    int64_t nb = std::min({want, fit, c.n});
    // The GEMM column count must fit a 32-bit BLAS int.
    while (nb > 1 && mul(nb, c.howo) > INT_MAX) nb /= 2;
    return std::max<int64_t>(nb, 1);
}

struct Plan {
    int64_t nb;       // images per chunk
    int64_t chunks;   // ceil(n / nb)
    int parts;        // threads working on disjoint chunk ranges (1 = sequential)
    bool direct;      // pointwise conv with one image per chunk: x / gx serve as the columns
    int64_t cols;     // per-part elements of the [k, nb*howo] column buffer (0 when direct)
    int64_t rows_out; // per-part elements of the [cout, nb*howo] staging buffer (0 when nb == 1)
};

template <class T>
Plan make_plan(const Conv& c) {
    Plan p{};
    p.nb = chunk_images<T>(c);
    p.chunks = (c.n + p.nb - 1) / p.nb;
    const double flops = 2.0 * static_cast<double>(c.n) * static_cast<double>(c.cout) *
                         static_cast<double>(c.k) * static_cast<double>(c.howo);
    p.parts = 1;
    if (flops >= kMinParallelFlops) p.parts = static_cast<int>(std::min<int64_t>(ThreadPool::instance().size(), p.chunks));
    p.direct = c.pointwise && p.nb == 1;
    p.cols = p.direct ? 0 : mul(mul(c.k, p.nb), c.howo);
    p.rows_out = p.nb > 1 ? mul(mul(c.cout, p.nb), c.howo) : 0;
    return p;
}

// OpenBLAS (pthreads build) has no per-call thread count before 0.3.27: while any parallel-over-chunks
// kernel runs, the global count is 1, and the count found before the first such kernel is restored after
// the last. The symbols are weak so that another BLAS can still be linked (it is then left alone).
extern "C" {
int openblas_get_num_threads(void) __attribute__((weak));
void openblas_set_num_threads(int) __attribute__((weak));
}

// The process's OpenBLAS thread count and the sections that hold it at 1. One mutex orders the kernels' own
// serial sections, the host's (cn_serial_enter/leave) and cn_set_num_threads, so a count set while a section is
// open takes effect when the last one closes instead of being overwritten by a stale saved count.
class BlasThreads {
public:
    static void enter() {
        if (!available()) return;
        std::lock_guard<std::mutex> lock(mu());
        if (depth()++ == 0) {
            saved() = openblas_get_num_threads();
            if (saved() > 1) openblas_set_num_threads(1);
        }
    }
    static void leave() {
        if (!available()) return;
        std::lock_guard<std::mutex> lock(mu());
        if (depth() > 0 && --depth() == 0 && saved() > 1) openblas_set_num_threads(saved());
    }
    static void set(int threads) {
        if (!available()) return;
        std::lock_guard<std::mutex> lock(mu());
        if (depth() > 0) saved() = threads;
        else openblas_set_num_threads(threads);
    }

private:
    static bool available() { return openblas_get_num_threads && openblas_set_num_threads; }
    static std::mutex& mu() { static std::mutex m; return m; }
    static int& depth() { static int d = 0; return d; }
    static int& saved() { static int s = 1; return s; }
};

class SerialBlas {
public:
    SerialBlas() { BlasThreads::enter(); }
    ~SerialBlas() { BlasThreads::leave(); }
    SerialBlas(const SerialBlas&) = delete;
    SerialBlas& operator=(const SerialBlas&) = delete;
};

// Runs body(part, chunk_begin, chunk_end) for every part; in parallel (with serial BLAS) when parts > 1.
// body must not throw.
template <class F>
void run_parts(const Plan& p, F&& body) {
    if (p.parts <= 1) {
        body(0, int64_t{0}, p.chunks, true);
        return;
    }
    SerialBlas serial;
    ThreadPool::instance().parallel_for(p.parts, 1e30, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q)
            body(static_cast<int>(q), p.chunks * q / p.parts, p.chunks * (q + 1) / p.parts, false);
    });
}

// Unfolds images [b0, b0+bc) into cols laid out [K, bc*howo] (image b at column offset b*howo).
// pooled: split the rows over the thread pool (only when the caller is not itself a pool task).
template <class T>
void im2col_chunk(const Conv& c, const T* x, int64_t b0, int64_t bc, T* cols, bool pooled) {
    const int64_t ld = bc * c.howo;
    auto body = [&](int64_t t0, int64_t t1) {
        // Task t = b * k + row.
        for (int64_t t = t0; t < t1;) {
            const int64_t b = t / c.k, r0 = t % c.k;
            const int64_t r1 = std::min(c.k, r0 + (t1 - t));
            im2col_rows(c, x + (b0 + b) * c.cin * c.hw, cols + b * c.howo, ld, r0, r1);
            t += r1 - r0;
        }
    };
    if (pooled) ThreadPool::instance().parallel_for(bc * c.k, static_cast<double>(c.howo), body);
    else body(0, bc * c.k);
}

template <class T>
void col2im_chunk(const Conv& c, const T* cols, int64_t b0, int64_t bc, T* x, bool pooled) {
    const int64_t ld = bc * c.howo;
    auto body = [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1;) {
            const int64_t b = t / c.cin, c0 = t % c.cin;
            const int64_t c1 = std::min(c.cin, c0 + (t1 - t));
            col2im_channels(c, cols + b * c.howo, ld, x + (b0 + b) * c.cin * c.hw, c0, c1);
            t += c1 - c0;
        }
    };
    const double cost = static_cast<double>(c.kh * c.kw * c.howo + c.hw);
    if (pooled) ThreadPool::instance().parallel_for(bc * c.cin, cost, body);
    else body(0, bc * c.cin);
}

// [bc][rows][howo] (batch-major, e.g. y or gy) <-> [rows][bc*howo] (GEMM layout).
template <class T>
void batch_to_gemm(const T* src, int64_t bc, int64_t rows, int64_t howo, T* dst) {
    for (int64_t t = 0; t < bc * rows; ++t) {
        const int64_t b = t / rows, r = t % rows;
        std::memcpy(dst + (r * bc + b) * howo, src + t * howo, static_cast<size_t>(howo) * sizeof(T));
    }
}
template <class T>
void gemm_to_batch(const T* src, int64_t bc, int64_t rows, int64_t howo, T* dst) {
    for (int64_t t = 0; t < bc * rows; ++t) {
        const int64_t b = t / rows, r = t % rows;
        std::memcpy(dst + t * howo, src + (r * bc + b) * howo, static_cast<size_t>(howo) * sizeof(T));
    }
}

}  // namespace cn
