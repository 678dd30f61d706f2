// libcurvnative: convolution / unfold / fold / max-pooling kernels behind a flat C ABI.
// Convolutions are im2col + one OpenBLAS GEMM per batch chunk; the memory-bound parts
// run on a small thread pool (parallel.hpp). Nothing here throws across the ABI.

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

#include "parallel.hpp"

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

// CBLAS prototypes (declared here to avoid depending on one vendor's cblas.h; blasint is 32-bit int
// in Debian's OpenBLAS, enums are passed as int).
extern "C" {
void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc);
void cblas_dgemm(int order, int transa, int transb, int m, int n, int k, double alpha, const double* a,
                 int lda, const double* b, int ldb, double beta, double* c, int ldc);
void cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float* a, int lda, float beta,
                 float* c, int ldc);
void cblas_dsyrk(int order, int uplo, int trans, int n, int k, double alpha, const double* a, int lda,
                 double beta, double* c, int ldc);
}

namespace cn {
namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kUpper = 121;

// ---------------------------------------------------------------------------------------------
// Error handling

struct Error {
    int status;
};

[[noreturn]] void fail(int status) { throw Error{status}; }

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

int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail(CN_ERR_TOO_LARGE);
    return r;
}
int64_t add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail(CN_ERR_TOO_LARGE);
    return r;
}
int as_blas_int(int64_t v) {
    if (v < 0 || v > INT_MAX) fail(CN_ERR_TOO_LARGE);
    return static_cast<int>(v);
}
void require(bool ok) {
    if (!ok) fail(CN_ERR_INVALID_ARGUMENT);
}
// A pointer may be null only when it addresses nothing.
template <class P>
void require_ptr(P* p, int64_t count) {
    if (count > 0 && p == nullptr) fail(CN_ERR_INVALID_ARGUMENT);
}

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
void check_conv(const cn_conv2d_geom* g, bool need_cout, Conv& c) {
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

void check_pool(const cn_pool2d_geom* g, Pool& p) {
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

thread_local ScratchSlot t_scratch[2];

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
// GEMM dispatch (row-major)

inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    cblas_sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, as_blas_int(m), as_blas_int(n),
                as_blas_int(k), alpha, a, as_blas_int(lda), b, as_blas_int(ldb), beta, c, as_blas_int(ldc));
}
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                 const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
    cblas_dgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, as_blas_int(m), as_blas_int(n),
                as_blas_int(k), alpha, a, as_blas_int(lda), b, as_blas_int(ldb), beta, c, as_blas_int(ldc));
}

// Upper triangle of c[n,n] = alpha a a^T + beta c for row-major a [n, k] (SYRK, no transpose).
inline void syrk_rows(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c, int64_t ldc) {
    cblas_ssyrk(kRowMajor, kUpper, kNoTrans, as_blas_int(n), as_blas_int(k), alpha, a, as_blas_int(lda), beta, c,
                as_blas_int(ldc));
}
inline void syrk_rows(int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta, double* c,
                      int64_t ldc) {
    cblas_dsyrk(kRowMajor, kUpper, kNoTrans, as_blas_int(n), as_blas_int(k), alpha, a, as_blas_int(lda), beta, c,
                as_blas_int(ldc));
}

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

// ---------------------------------------------------------------------------------------------
// Kernels

template <class T>
int conv_forward(const cn_conv2d_geom* g, const T* x, const T* w, T* y) {
    return guarded([&] {
        Conv c;
        check_conv(g, true, c);
        require_ptr(x, c.x_size);
        require_ptr(w, c.w_size);
        require_ptr(y, c.y_size);
        if (c.n == 0) return;
        const Plan p = make_plan<T>(c);
        Scratch lease;
        T* cols_all = p.cols ? Scratch::get<T>(0, mul(p.cols, p.parts), lease) : nullptr;
        T* out_all = p.rows_out ? Scratch::get<T>(1, mul(p.rows_out, p.parts), lease) : nullptr;
        run_parts(p, [&](int part, int64_t ch0, int64_t ch1, bool pooled) {
            T* cols = cols_all + part * p.cols;
            T* out = out_all + part * p.rows_out;
            for (int64_t ch = ch0; ch < ch1; ++ch) {
                const int64_t b0 = ch * p.nb, bc = std::min(p.nb, c.n - b0), cols_n = bc * c.howo;
                T* y0 = y + b0 * c.cout * c.howo;
                const T* src = p.direct ? x + b0 * c.cin * c.hw : cols;
                if (!p.direct) im2col_chunk(c, x, b0, bc, cols, pooled);
                if (bc == 1) {
                    gemm(false, false, c.cout, cols_n, c.k, T(1), w, c.k, src, cols_n, T(0), y0, cols_n);
                } else {
                    gemm(false, false, c.cout, cols_n, c.k, T(1), w, c.k, src, cols_n, T(0), out, cols_n);
                    gemm_to_batch(out, bc, c.cout, c.howo, y0);
                }
            }
        });
    });
}

template <class T>
int conv_input_grad(const cn_conv2d_geom* g, const T* gy, const T* w, T* gx) {
    return guarded([&] {
        Conv c;
        check_conv(g, true, c);
        require_ptr(gy, c.y_size);
        require_ptr(w, c.w_size);
        require_ptr(gx, c.x_size);
        if (c.n == 0) return;
        const Plan p = make_plan<T>(c);
        Scratch lease;
        T* cols_all = p.cols ? Scratch::get<T>(0, mul(p.cols, p.parts), lease) : nullptr;
        T* gyt_all = p.rows_out ? Scratch::get<T>(1, mul(p.rows_out, p.parts), lease) : nullptr;
        run_parts(p, [&](int part, int64_t ch0, int64_t ch1, bool pooled) {
            T* dcols = cols_all + part * p.cols;
            T* gyt = gyt_all + part * p.rows_out;
            for (int64_t ch = ch0; ch < ch1; ++ch) {
                const int64_t b0 = ch * p.nb, bc = std::min(p.nb, c.n - b0), cols_n = bc * c.howo;
                const T* g_chunk = gy + b0 * c.cout * c.howo;
                if (bc > 1) {
                    batch_to_gemm(g_chunk, bc, c.cout, c.howo, gyt);
                    g_chunk = gyt;
                }
                if (p.direct) {
                    gemm(true, false, c.cin, cols_n, c.cout, T(1), w, c.cin, g_chunk, cols_n, T(0),
                         gx + b0 * c.cin * c.hw, cols_n);
                } else {
                    gemm(true, false, c.k, cols_n, c.cout, T(1), w, c.k, g_chunk, cols_n, T(0), dcols, cols_n);
                    col2im_chunk(c, dcols, b0, bc, gx, pooled);
                }
            }
        });
    });
}

template <class T>
int conv_weight_grad(const cn_conv2d_geom* g, const T* x, const T* gy, T* gw) {
    return guarded([&] {
        Conv c;
        check_conv(g, true, c);
        require_ptr(x, c.x_size);
        require_ptr(gy, c.y_size);
        require_ptr(gw, c.w_size);
        if (c.n == 0) {
            std::fill(gw, gw + c.w_size, T(0));
            return;
        }
        const Plan p = make_plan<T>(c);
        Scratch lease;
        // Slot 0: per-part columns, then per-part partial gradients for parts 1.. (part 0 writes gw).
        const int64_t partial = c.w_size;
        T* slot0 = Scratch::get<T>(0, add(mul(p.cols, p.parts), mul(partial, p.parts - 1)), lease);
        T* cols_all = slot0;
        T* partials = slot0 + p.cols * p.parts;
        T* gyt_all = p.rows_out ? Scratch::get<T>(1, mul(p.rows_out, p.parts), lease) : nullptr;
        run_parts(p, [&](int part, int64_t ch0, int64_t ch1, bool pooled) {
            T* cols = cols_all + part * p.cols;
            T* gyt = gyt_all + part * p.rows_out;
            T* acc = part == 0 ? gw : partials + (part - 1) * partial;
            for (int64_t ch = ch0; ch < ch1; ++ch) {
                const int64_t b0 = ch * p.nb, bc = std::min(p.nb, c.n - b0), cols_n = bc * c.howo;
                const T* src = p.direct ? x + b0 * c.cin * c.hw : cols;
                if (!p.direct) im2col_chunk(c, x, b0, bc, cols, pooled);
                const T* g_chunk = gy + b0 * c.cout * c.howo;
                if (bc > 1) {
                    batch_to_gemm(g_chunk, bc, c.cout, c.howo, gyt);
                    g_chunk = gyt;
                }
                gemm(false, true, c.cout, c.k, cols_n, T(1), g_chunk, cols_n, src, cols_n,
                     ch == ch0 ? T(0) : T(1), acc, c.k);
            }
        });
        for (int q = 1; q < p.parts; ++q) {
            const T* src = partials + (q - 1) * partial;
            for (int64_t i = 0; i < partial; ++i) gw[i] += src[i];
        }
    });
}

template <class T>
int unfold(const cn_conv2d_geom* g, const T* x, T* cols) {
    return guarded([&] {
        Conv c;
        check_conv(g, false, c);
        require_ptr(x, c.x_size);
        require_ptr(cols, c.cols_size);
        // Task t = b * k + row; each writes one row of one image's [k, howo] block.
        ThreadPool::instance().parallel_for(c.n * c.k, static_cast<double>(c.howo), [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1;) {
                const int64_t b = t / c.k, r0 = t % c.k;
                const int64_t r1 = std::min(c.k, r0 + (t1 - t));
                im2col_rows(c, x + b * c.cin * c.hw, cols + b * c.k * c.howo, c.howo, r0, r1);
                t += r1 - r0;
            }
        });
    });
}

template <class T>
int fold(const cn_conv2d_geom* g, const T* cols, T* x) {
    return guarded([&] {
        Conv c;
        check_conv(g, false, c);
        require_ptr(cols, c.cols_size);
        require_ptr(x, c.x_size);
        const double cost = static_cast<double>(c.kh * c.kw * c.howo + c.hw);
        ThreadPool::instance().parallel_for(c.n * c.cin, cost, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1;) {
                const int64_t b = t / c.cin, c0 = t % c.cin;
                const int64_t c1 = std::min(c.cin, c0 + (t1 - t));
                col2im_channels(c, cols + b * c.k * c.howo, c.howo, x + b * c.cin * c.hw, c0, c1);
                t += c1 - c0;
            }
        });
    });
}

// KFAC input factor of a convolution: the upper triangle of c[m,m] = beta c + alpha sum_n U_n U_n^T with
// U_n = unfold(x_n) [k, howo] (plus a row of ones when augmented, m = k + 1). Images are unfolded chunk by
// chunk into a [m, bc*howo] scratch (about kChunkBudgetBytes) and each chunk is one SYRK, so the unfolded
// input is never materialised; the ones row turns the bias column and the count into part of that SYRK.
template <class T>
int unfold_gram(const cn_conv2d_geom* g, const T* x, T alpha, T beta, int augment, T* c, int64_t ldc) {
    return guarded([&] {
        Conv cv;
        check_conv(g, false, cv);
        require_ptr(x, cv.x_size);
        const int64_t m = cv.k + (augment ? 1 : 0);
        require(ldc >= m);
        require(c != nullptr);
        as_blas_int(ldc);
        as_blas_int(m);
        add(mul(m - 1, ldc), m);  // c's extent must be addressable
        if (cv.n == 0) {
            // No rows: c = beta c on the upper triangle (beta == 0 overwrites, as BLAS).
            for (int64_t i = 0; i < m; ++i) {
                T* row = c + i * ldc;
                for (int64_t j = i; j < m; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
            }
            return;
        }
        as_blas_int(cv.howo);
        const int64_t per_image = mul(mul(m, cv.howo), sizeof(T));
        int64_t nb = std::clamp<int64_t>(kChunkBudgetBytes / per_image, 1, cv.n);
        while (nb > 1 && mul(nb, cv.howo) > INT_MAX) nb /= 2;
        Scratch lease;
        T* cols = Scratch::get<T>(0, mul(mul(m, nb), cv.howo), lease);
        for (int64_t b0 = 0; b0 < cv.n; b0 += nb) {
            const int64_t bc = std::min(nb, cv.n - b0), ld = bc * cv.howo;
            im2col_chunk(cv, x, b0, bc, cols, true);
            if (augment) std::fill(cols + cv.k * ld, cols + (cv.k + 1) * ld, T(1));
            syrk_rows(m, ld, alpha, cols, ld, b0 == 0 ? beta : T(1), c, ldc);
        }
    });
}

// sums[n, k] = sum over output positions of unfold(x_n) (row sums of each image's patch matrix), computed from
// x directly: the sum of a tap's row is the sum of the input window that tap sees. Accumulates in double.
template <class T>
int unfold_sum(const cn_conv2d_geom* g, const T* x, T* sums) {
    return guarded([&] {
        Conv cv;
        check_conv(g, false, cv);
        require_ptr(x, cv.x_size);
        const int64_t total = mul(cv.n, cv.k);
        require_ptr(sums, total);
        ThreadPool::instance().parallel_for(total, static_cast<double>(cv.howo), [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t b = t / cv.k, r = t % cv.k;
                const int64_t ch = r / (cv.kh * cv.kw), i = (r / cv.kw) % cv.kh, j = r % cv.kw;
                const T* plane = x + (b * cv.cin + ch) * cv.hw;
                int64_t lo, hi;
                valid_range(j, cv.sw, cv.pw, cv.w, cv.wo, lo, hi);
                double acc = 0;
                if (lo < hi) {
                    const int64_t off = j - cv.pw;
                    for (int64_t oh = 0; oh < cv.ho; ++oh) {
                        const int64_t ih = oh * cv.sh - cv.ph + i;
                        if (ih < 0 || ih >= cv.h) continue;
                        const T* row = plane + ih * cv.w;
                        double part = 0;
                        for (int64_t ow = lo; ow < hi; ++ow) part += static_cast<double>(row[ow * cv.sw + off]);
                        acc += part;
                    }
                }
                sums[t] = static_cast<T>(acc);
            }
        });
    });
}

// take ? a : b through integer masks, so the compiler cannot turn it into a branch.
template <class T>
inline T pick_bits(bool take, T a, T b) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    static_assert(sizeof(U) == sizeof(T), "float or double");
    U ua, ub;
    std::memcpy(&ua, &a, sizeof a);
    std::memcpy(&ub, &b, sizeof b);
    const U r = ub ^ ((ua ^ ub) & (U(0) - U(take)));
    T out;
    std::memcpy(&out, &r, sizeof out);
    return out;
}

#if defined(__SSE4_1__)
// The 2x2 stride-2 tree of maxpool_forward on four windows at once (float, SSE4.1 = x86-64-v2):
// even/odd columns are de-interleaved, compares become masks and blends. Within-plane offsets are
// 32-bit (the caller checks h*w fits). Returns the number of output columns done (a multiple of 4).
int64_t maxpool2x2s2_sse(const float* r0, const float* r1, int64_t i0, int64_t i1, int64_t wo, int64_t plane_base,
                         float* out, int64_t* idx) {
    int64_t ow = 0;
    const __m128i lane = _mm_setr_epi32(0, 2, 4, 6);
    const __m128i row1 = _mm_set1_epi32(static_cast<int32_t>(i1 - i0));
    const __m128i base64 = _mm_set1_epi64x(plane_base);
    for (; ow + 4 <= wo; ow += 4) {
        const int64_t iw = 2 * ow;
        const __m128 p0 = _mm_loadu_ps(r0 + iw), p1 = _mm_loadu_ps(r0 + iw + 4);
        const __m128 q0 = _mm_loadu_ps(r1 + iw), q1 = _mm_loadu_ps(r1 + iw + 4);
        const __m128 a = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(2, 0, 2, 0)), b = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 c = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0)), d = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 tb = _mm_or_ps(_mm_cmpgt_ps(b, a), _mm_cmpunord_ps(b, b));
        const __m128 td = _mm_or_ps(_mm_cmpgt_ps(d, c), _mm_cmpunord_ps(d, d));
        const __m128 m01 = _mm_blendv_ps(a, b, tb), m23 = _mm_blendv_ps(c, d, td);
        const __m128 t2 = _mm_or_ps(_mm_cmpgt_ps(m23, m01), _mm_cmpunord_ps(m23, m23));
        _mm_storeu_ps(out + ow, _mm_blendv_ps(m01, m23, t2));
        if (idx) {
            // Masks are -1 where taken: subtracting them adds the column step of one.
            const __m128i col = _mm_add_epi32(_mm_set1_epi32(static_cast<int32_t>(i0 + iw)), lane);
            const __m128i j01 = _mm_sub_epi32(col, _mm_castps_si128(tb));
            const __m128i j23 = _mm_sub_epi32(_mm_add_epi32(col, row1), _mm_castps_si128(td));
            const __m128i j = _mm_blendv_epi8(j01, j23, _mm_castps_si128(t2));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(idx + ow), _mm_add_epi64(base64, _mm_cvtepi32_epi64(j)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(idx + ow + 2),
                             _mm_add_epi64(base64, _mm_cvtepi32_epi64(_mm_srli_si128(j, 8))));
        }
    }
    return ow;
}
#endif

template <class T>
int maxpool_forward(const cn_pool2d_geom* g, const T* x, T* y, int64_t* argmax) {
    return guarded([&] {
        Pool p;
        check_pool(g, p);
        require_ptr(x, p.x_size);
        require_ptr(y, p.y_size);
        const int64_t planes = p.n * p.c, hw = p.h * p.w, howo = p.ho * p.wo;
        const double cost = static_cast<double>(howo * p.kh * p.kw);
        if (p.kh == 2 && p.kw == 2 && p.ph == 0 && p.pw == 0) {
            // MaxPool2d(2), the common case: a two-level tree per window instead of a 4-step chain
            // of dependent compares, so consecutive windows overlap in the pipeline. Same rule as
            // below: strict '>' keeps the first maximum, '(v != v)' makes the last NaN win.
            ThreadPool::instance().parallel_for(planes, cost, [&](int64_t t0, int64_t t1) {
                for (int64_t t = t0; t < t1; ++t) {
                    const T* plane = x + t * hw;
                    for (int64_t oh = 0; oh < p.ho; ++oh) {
                        const int64_t i0 = oh * p.sh * p.w, i1 = i0 + p.w;  // offsets of the two rows
                        const T* r0 = plane + i0;
                        const T* r1 = plane + i1;
                        T* out = y + t * howo + oh * p.wo;
                        int64_t* idx = argmax ? argmax + t * howo + oh * p.wo : nullptr;
                        int64_t ow = 0;
#if defined(__SSE4_1__)
                        if constexpr (std::is_same_v<T, float>) {
                            if (p.sw == 2 && hw <= INT32_MAX) ow = maxpool2x2s2_sse(r0, r1, i0, i1, p.wo, t * hw, out, idx);
                        }
#endif
                        for (; ow < p.wo; ++ow) {
                            const int64_t iw = ow * p.sw;
                            const T a = r0[iw], b = r0[iw + 1], c = r1[iw], d = r1[iw + 1];
                            const bool tb = (b > a) | (b != b), td = (d > c) | (d != d);
                            const T m01 = pick_bits(tb, b, a), m23 = pick_bits(td, d, c);
                            const bool t2 = (m23 > m01) | (m23 != m23);
                            out[ow] = pick_bits(t2, m23, m01);
                            if (idx) {
                                const int64_t j01 = i0 + iw + tb, j23 = i1 + iw + td;
                                idx[ow] = t * hw + (j01 ^ ((j01 ^ j23) & -static_cast<int64_t>(t2)));
                            }
                        }
                    }
                }
            });
            return;
        }
        ThreadPool::instance().parallel_for(planes, cost, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                const T* plane = x + t * hw;
                T* out = y + t * howo;
                int64_t* idx = argmax ? argmax + t * howo : nullptr;
                for (int64_t oh = 0; oh < p.ho; ++oh) {
                    const int64_t h0 = oh * p.sh - p.ph;
                    const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + p.kh, p.h);
                    for (int64_t ow = 0; ow < p.wo; ++ow) {
                        const int64_t w0 = ow * p.sw - p.pw;
                        const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w0 + p.kw, p.w);
                        // pad <= k/2 guarantees hs < he and ws < we.
                        int64_t best = hs * p.w + ws;
                        T m = -std::numeric_limits<T>::infinity();
                        for (int64_t ih = hs; ih < he; ++ih) {
                            const T* row = plane + ih * p.w;
                            for (int64_t iw = ws; iw < we; ++iw) {
                                // Branch-free: on real data "v > m" mispredicts about half the time,
                                // and GCC turns a plain ?: on floats back into a branch.
                                const T v = row[iw];
                                const bool take = (v > m) | (v != v);  // v != v: NaN
                                const int64_t mask = -static_cast<int64_t>(take);
                                best ^= (best ^ (ih * p.w + iw)) & mask;
                                m = pick_bits(take, v, m);
                            }
                        }
                        out[oh * p.wo + ow] = m;
                        if (idx) idx[oh * p.wo + ow] = t * hw + best;
                    }
                }
            }
        });
    });
}

}  // namespace
}  // namespace cn

// ---------------------------------------------------------------------------------------------
// C ABI

extern "C" {

CN_API int cn_version(void) { return CN_VERSION; }

CN_API int cn_set_num_threads(int threads) {
    if (threads < 1) return CN_ERR_INVALID_ARGUMENT;
    try {
        const int pool = cn::ThreadPool::instance().resize(threads);
        cn::BlasThreads::set(pool);
        return CN_OK;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

CN_API int cn_get_num_threads(void) {
    try {
        return cn::ThreadPool::instance().size();
    } catch (...) {
        return 1;
    }
}

CN_API int cn_serial_enter(void) {
    try {
        cn::ThreadPool::instance().enter_inline();
        cn::BlasThreads::enter();
        return CN_OK;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

CN_API int cn_serial_leave(void) {
    try {
        cn::BlasThreads::leave();
        cn::ThreadPool::instance().leave_inline();
        return CN_OK;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

CN_API const char* cn_status_message(int status) {
    switch (status) {
        case CN_OK: return "ok";
        case CN_ERR_INVALID_ARGUMENT:
            return "invalid argument: inconsistent geometry or a null pointer for a non-empty tensor";
        case CN_ERR_OUT_OF_MEMORY: return "out of memory while allocating native scratch space";
        case CN_ERR_TOO_LARGE:
            return "sizes too large: an element count overflows 64 bits or a GEMM dimension exceeds 2^31-1";
        case CN_ERR_INTERNAL: return "internal error in libcurvnative (unexpected C++ exception)";
        default: return "unknown libcurvnative status code";
    }
}

CN_API int cn_conv2d_check(const cn_conv2d_geom* g) {
    return cn::guarded([&] { cn::Conv c; cn::check_conv(g, true, c); });
}
CN_API int cn_pool2d_check(const cn_pool2d_geom* g) {
    return cn::guarded([&] { cn::Pool p; cn::check_pool(g, p); });
}

CN_API int cn_conv2d_forward_f32(const cn_conv2d_geom* g, const float* x, const float* w, float* y) {
    return cn::conv_forward(g, x, w, y);
}
CN_API int cn_conv2d_forward_f64(const cn_conv2d_geom* g, const double* x, const double* w, double* y) {
    return cn::conv_forward(g, x, w, y);
}
CN_API int cn_conv2d_input_grad_f32(const cn_conv2d_geom* g, const float* gy, const float* w, float* gx) {
    return cn::conv_input_grad(g, gy, w, gx);
}
CN_API int cn_conv2d_input_grad_f64(const cn_conv2d_geom* g, const double* gy, const double* w, double* gx) {
    return cn::conv_input_grad(g, gy, w, gx);
}
CN_API int cn_conv2d_weight_grad_f32(const cn_conv2d_geom* g, const float* x, const float* gy, float* gw) {
    return cn::conv_weight_grad(g, x, gy, gw);
}
CN_API int cn_conv2d_weight_grad_f64(const cn_conv2d_geom* g, const double* x, const double* gy, double* gw) {
    return cn::conv_weight_grad(g, x, gy, gw);
}
CN_API int cn_unfold_f32(const cn_conv2d_geom* g, const float* x, float* cols) { return cn::unfold(g, x, cols); }
CN_API int cn_unfold_f64(const cn_conv2d_geom* g, const double* x, double* cols) { return cn::unfold(g, x, cols); }
CN_API int cn_fold_f32(const cn_conv2d_geom* g, const float* cols, float* x) { return cn::fold(g, cols, x); }
CN_API int cn_fold_f64(const cn_conv2d_geom* g, const double* cols, double* x) { return cn::fold(g, cols, x); }
CN_API int cn_unfold_gram_f32(const cn_conv2d_geom* g, const float* x, float alpha, float beta, int augment, float* c,
                              int64_t ldc) {
    return cn::unfold_gram(g, x, alpha, beta, augment, c, ldc);
}
CN_API int cn_unfold_gram_f64(const cn_conv2d_geom* g, const double* x, double alpha, double beta, int augment,
                              double* c, int64_t ldc) {
    return cn::unfold_gram(g, x, alpha, beta, augment, c, ldc);
}
CN_API int cn_unfold_sum_f32(const cn_conv2d_geom* g, const float* x, float* sums) { return cn::unfold_sum(g, x, sums); }
CN_API int cn_unfold_sum_f64(const cn_conv2d_geom* g, const double* x, double* sums) { return cn::unfold_sum(g, x, sums); }
CN_API int cn_maxpool2d_forward_f32(const cn_pool2d_geom* g, const float* x, float* y, int64_t* argmax) {
    return cn::maxpool_forward(g, x, y, argmax);
}
CN_API int cn_maxpool2d_forward_f64(const cn_pool2d_geom* g, const double* x, double* y, int64_t* argmax) {
    return cn::maxpool_forward(g, x, y, argmax);
}

}  // extern "C"
