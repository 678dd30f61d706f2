// Factor accumulation: KFAC's input factor of a convolution (the Gram of the unfolded input, unfolded chunk by chunk,
// never whole) and the patch sums of KFAC-reduce, behind the flat C ABI of curvnative.h.

#include "common.hpp"

namespace cn {
namespace {

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

}  // namespace
}  // namespace cn

extern "C" {

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

}  // extern "C"
