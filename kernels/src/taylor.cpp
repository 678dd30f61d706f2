// Fused collapsed second-order Taylor rule (the forward Laplacian step) of an elementwise activation y = f(z), forward
// and backward, on the packed layout the Taylor sweep keeps: p = [z_1 (r rows); c_2 (one row, optional)], each row n
// values. The derivatives of f (per value) come from y = f(z), already computed by the forward pass, so tanh, sigmoid
// and exp need no transcendental call; they are computed once per block of values, then the per-direction loops (r
// times as long as the values, the dominant part) are a multiply and a fused multiply-add or two per element,
// compiled for AVX-512, AVX2/FMA and the baseline ISA (target_clones picks at load time). Nothing throws across the ABI.

#include "curvnative.h"

#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t kBlock = 512;  // values per block: the derivatives and accumulators stay in L1

// f', f'' and (when f3 is not null) f''' at z, given y = f(z).
template <class T>
bool derivatives(int activation, const T* z, const T* y, int64_t m, T* f1, T* f2, T* f3) {
    switch (activation) {
        case CN_ACT_TANH:
            for (int64_t i = 0; i < m; i++) {
                T t = y[i], d = T(1) - t * t;
                f1[i] = d; f2[i] = T(-2) * t * d;
                if (f3) f3[i] = (T(6) * t * t - T(2)) * d;
            }
            return true;
        case CN_ACT_SIGMOID:
            for (int64_t i = 0; i < m; i++) {
                T s = y[i], d = s * (T(1) - s);
                f1[i] = d; f2[i] = d * (T(1) - T(2) * s);
                if (f3) f3[i] = d * (T(1) - T(6) * s + T(6) * s * s);
            }
            return true;
        case CN_ACT_SIN:
            for (int64_t i = 0; i < m; i++) {
                T c = std::cos(z[i]);
                f1[i] = c; f2[i] = -y[i];
                if (f3) f3[i] = -c;
            }
            return true;
        case CN_ACT_COS:
            for (int64_t i = 0; i < m; i++) {
                T s = std::sin(z[i]);
                f1[i] = -s; f2[i] = -y[i];
                if (f3) f3[i] = s;
            }
            return true;
        case CN_ACT_EXP:
            for (int64_t i = 0; i < m; i++) {
                f1[i] = y[i]; f2[i] = y[i];
                if (f3) f3[i] = y[i];
            }
            return true;
        default:
            return false;
    }
}

// q = f' p; s += w p^2 (one direction of the forward rule).
template <class T>
__attribute__((target_clones("avx512f", "avx2", "default")))
void direction_forward(int64_t m, const T* __restrict f1, const T* __restrict p, T w, T* __restrict q, T* __restrict s) {
    for (int64_t i = 0; i < m; i++) {
        T v = p[i];
        q[i] = f1[i] * v;
        s[i] += w * v * v;
    }
}

// dp = f' g + 2 w f'' p g_top; s += w p^2; gp += g p (one direction of the backward rule).
template <class T>
__attribute__((target_clones("avx512f", "avx2", "default")))
void direction_backward(int64_t m, const T* __restrict f1, const T* __restrict f2, const T* __restrict gtop, const T* __restrict p,
                        const T* __restrict g, T w, T* __restrict dp, T* __restrict s, T* __restrict gp) {
    T w2 = T(2) * w;
    for (int64_t i = 0; i < m; i++) {
        T v = p[i], gi = g[i];
        if (dp) dp[i] = f1[i] * gi + w2 * f2[i] * v * gtop[i];
        s[i] += w * v * v;
        gp[i] += gi * v;
    }
}

template <class T>
int check(int activation, int64_t n, int64_t r, int has_c2) {
    if (activation < CN_ACT_TANH || activation > CN_ACT_EXP || n < 0 || r < 0 || (has_c2 != 0 && has_c2 != 1)) return CN_ERR_INVALID_ARGUMENT;
    int64_t total;
    if (__builtin_mul_overflow(n, r + 1, &total)) return CN_ERR_TOO_LARGE;
    return CN_OK;
}

template <class T>
int forward(int activation, int64_t n, int64_t r, int has_c2, const T* z, const T* y, const T* p, const T* w, T* q) noexcept {
    if (int status = check<T>(activation, n, r, has_c2)) return status;
    if (n == 0) return CN_OK;
    if (!z || !y || !q || ((r > 0 || has_c2) && !p)) return CN_ERR_INVALID_ARGUMENT;
    T f1[kBlock], f2[kBlock], s[kBlock];
    for (int64_t b = 0; b < n; b += kBlock) {
        int64_t m = n - b < kBlock ? n - b : kBlock;
        derivatives(activation, z + b, y + b, m, f1, f2, static_cast<T*>(nullptr));
        for (int64_t i = 0; i < m; i++) s[i] = T(0);
        for (int64_t k = 0; k < r; k++)
            direction_forward<T>(m, f1, p + k * n + b, w ? w[k] : T(1), q + k * n + b, s);
        T* top = q + r * n + b;
        if (has_c2) {
            const T* c2 = p + r * n + b;
            for (int64_t i = 0; i < m; i++) top[i] = f1[i] * c2[i] + f2[i] * s[i];
        } else {
            for (int64_t i = 0; i < m; i++) top[i] = f2[i] * s[i];
        }
    }
    return CN_OK;
}

template <class T>
int backward(int activation, int64_t n, int64_t r, int has_c2, const T* z, const T* y, const T* p, const T* w, const T* g,
             T* dz, T* dp) noexcept {
    if (int status = check<T>(activation, n, r, has_c2)) return status;
    if (n == 0) return CN_OK;
    if (!z || !y || !g || ((r > 0 || has_c2) && !p)) return CN_ERR_INVALID_ARGUMENT;
    T f1[kBlock], f2[kBlock], f3[kBlock], s[kBlock], gp[kBlock];
    for (int64_t b = 0; b < n; b += kBlock) {
        int64_t m = n - b < kBlock ? n - b : kBlock;
        derivatives(activation, z + b, y + b, m, f1, f2, f3);
        const T* gtop = g + r * n + b;
        for (int64_t i = 0; i < m; i++) { s[i] = T(0); gp[i] = T(0); }
        for (int64_t k = 0; k < r; k++)
            direction_backward<T>(m, f1, f2, gtop, p + k * n + b, g + k * n + b, w ? w[k] : T(1), dp ? dp + k * n + b : nullptr, s, gp);
        if (has_c2) {
            const T* c2 = p + r * n + b;
            for (int64_t i = 0; i < m; i++) {
                if (dp) dp[r * n + b + i] = f1[i] * gtop[i];
                gp[i] += gtop[i] * c2[i];
            }
        }
        if (dz)
            for (int64_t i = 0; i < m; i++) dz[b + i] = f2[i] * gp[i] + f3[i] * gtop[i] * s[i];
    }
    return CN_OK;
}

}  // namespace

extern "C" {

CN_API int cn_taylor2_forward_f32(int activation, int64_t n, int64_t r, int has_c2, const float* z, const float* y, const float* p,
                                  const float* weights, float* q) {
    return forward(activation, n, r, has_c2, z, y, p, weights, q);
}

CN_API int cn_taylor2_forward_f64(int activation, int64_t n, int64_t r, int has_c2, const double* z, const double* y, const double* p,
                                  const double* weights, double* q) {
    return forward(activation, n, r, has_c2, z, y, p, weights, q);
}

CN_API int cn_taylor2_backward_f32(int activation, int64_t n, int64_t r, int has_c2, const float* z, const float* y, const float* p,
                                   const float* weights, const float* g, float* dz, float* dp) {
    return backward(activation, n, r, has_c2, z, y, p, weights, g, dz, dp);
}

CN_API int cn_taylor2_backward_f64(int activation, int64_t n, int64_t r, int has_c2, const double* z, const double* y, const double* p,
                                   const double* weights, const double* g, double* dz, double* dp) {
    return backward(activation, n, r, has_c2, z, y, p, weights, g, dz, dp);
}

}  // extern "C"
