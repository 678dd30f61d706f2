// Fused collapsed Taylor rules (forward Laplacian step) for elementwise activations. The transcendental part
// (f, f', f'' per value) runs once per block of values; the per-direction part, which dominates (r times n),
// is a multiply and a fused multiply-add per element, compiled for AVX2/FMA and for the baseline ISA
// (target_clones picks at load time). Nothing throws across the ABI.

#include "curvnative.h"

#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t kBlock = 512;  // values per block: f', f'' and the accumulator stay in L1

template <class T>
bool derivatives(int activation, const T* z, int64_t m, T* y, T* d1, T* d2) {
    for (int64_t i = 0; i < m; i++) {
        T v = z[i], f, f1, f2;
        switch (activation) {
            case CN_ACT_TANH:
                f = std::tanh(v); f1 = T(1) - f * f; f2 = T(-2) * f * f1;
                break;
            case CN_ACT_SIGMOID:
                f = T(1) / (T(1) + std::exp(-v)); f1 = f * (T(1) - f); f2 = f1 * (T(1) - T(2) * f);
                break;
            case CN_ACT_SIN:
                f = std::sin(v); f1 = std::cos(v); f2 = -f;
                break;
            case CN_ACT_COS:
                f = std::cos(v); f1 = -std::sin(v); f2 = -f;
                break;
            case CN_ACT_EXP:
                f = std::exp(v); f1 = f; f2 = f;
                break;
            default:
                return false;
        }
        if (y) y[i] = f;
        d1[i] = f1;
        d2[i] = f2;
    }
    return true;
}

// out = d1 * dir; acc += w * dir^2 (the part that is r times as long as the values).
template <class T>
__attribute__((target_clones("avx2,fma", "default")))
void direction(int64_t m, const T* __restrict d1, const T* __restrict dir, T w, T* __restrict out, T* __restrict acc) {
    for (int64_t i = 0; i < m; i++) {
        T v = dir[i];
        out[i] = d1[i] * v;
        acc[i] += w * v * v;
    }
}

template <class T>
int taylor2(int activation, int64_t n, int64_t r, const T* z, const T* dirs, const T* c2, const T* weights,
            T* y, T* dirs_out, T* c2_out) noexcept {
    if (activation < CN_ACT_TANH || activation > CN_ACT_EXP || n < 0 || r < 0) return CN_ERR_INVALID_ARGUMENT;
    if (n == 0) return CN_OK;
    if (!z || !c2_out || (r > 0 && (!dirs || !dirs_out))) return CN_ERR_INVALID_ARGUMENT;
    int64_t total;
    if (__builtin_mul_overflow(n, r, &total)) return CN_ERR_TOO_LARGE;
    T d1[kBlock], d2[kBlock], acc[kBlock];
    for (int64_t b = 0; b < n; b += kBlock) {
        int64_t m = n - b < kBlock ? n - b : kBlock;
        if (!derivatives(activation, z + b, m, y ? y + b : nullptr, d1, d2)) return CN_ERR_INVALID_ARGUMENT;
        for (int64_t i = 0; i < m; i++) acc[i] = T(0);
        for (int64_t k = 0; k < r; k++)
            direction<T>(m, d1, dirs + k * n + b, weights ? weights[k] : T(1), dirs_out + k * n + b, acc);
        for (int64_t i = 0; i < m; i++) c2_out[b + i] = (c2 ? d1[i] * c2[b + i] : T(0)) + d2[i] * acc[i];
    }
    return CN_OK;
}

}  // namespace

extern "C" {

CN_API int cn_taylor2_activation_f32(int activation, int64_t n, int64_t r, const float* z, const float* dirs, const float* c2,
                                     const float* weights, float* y, float* dirs_out, float* c2_out) {
    return taylor2(activation, n, r, z, dirs, c2, weights, y, dirs_out, c2_out);
}

CN_API int cn_taylor2_activation_f64(int activation, int64_t n, int64_t r, const double* z, const double* dirs, const double* c2,
                                     const double* weights, double* y, double* dirs_out, double* c2_out) {
    return taylor2(activation, n, r, z, dirs, c2, weights, y, dirs_out, c2_out);
}

}  // extern "C"
