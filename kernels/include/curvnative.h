/*
 * curvnative.h - flat C ABI of libcurvnative.so (CurvNative native kernels).
 *
 * Conventions
 *  - All tensors are dense, row-major (C-contiguous), NCHW.
 *  - Every function returns an int status (CN_OK = 0). No C++ exception ever crosses the ABI.
 *  - Output buffers are fully overwritten (never accumulated into), except c of cn_unfold_gram (BLAS-style beta).
 *  - A pointer may be NULL only when the tensor it points to has zero elements.
 *  - Output buffers must not overlap input buffers.
 *  - Functions are thread-safe: scratch memory is thread-local (buffers above 64 MiB are freed after
 *    the call).
 *  - Threading: convolutions split the batch between a small internal thread pool (size from
 *    CURVNATIVE_NUM_THREADS, else OPENBLAS_NUM_THREADS, else the CPUs in the affinity mask), each thread
 *    running single-threaded GEMMs; while such a call runs, OpenBLAS's global thread count is set to 1
 *    and afterwards restored to the count found before (so a concurrent GEMM elsewhere in the process
 *    runs single-threaded meanwhile). A batch that forms a single chunk uses OpenBLAS's own threading.
 */
#ifndef CURVNATIVE_H
#define CURVNATIVE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CN_API __declspec(dllexport)
#else
#define CN_API __attribute__((visibility("default")))
#endif

#define CN_VERSION 1

enum {
    CN_OK = 0,
    CN_ERR_INVALID_ARGUMENT = 1, /* bad geometry, NULL pointer for a non-empty tensor, ... */
    CN_ERR_OUT_OF_MEMORY = 2,    /* scratch allocation failed */
    CN_ERR_TOO_LARGE = 3,        /* sizes overflow int64 or exceed what BLAS (32-bit int) can index */
    CN_ERR_INTERNAL = 4          /* unexpected C++ exception caught at the ABI boundary */
};

/* Version of the ABI (CN_VERSION). */
CN_API int cn_version(void);

/*
 * Threads. cn_set_num_threads sets the kernels' pool to `threads` (clamped to 64; workers are started when
 * growing and parked when shrinking) and OpenBLAS's global thread count to the same number; CN_ERR_INVALID_ARGUMENT
 * when threads < 1. cn_get_num_threads returns the pool's size.
 * cn_serial_enter / cn_serial_leave bracket a section in which the host runs its own workers, each calling
 * kernels and BLAS: inside it OpenBLAS runs on 1 thread and the pool runs every loop on its caller's thread, so
 * nothing oversubscribes the cores. Sections nest and may be opened by several threads; the count in force
 * before the first is restored when the last closes (a cn_set_num_threads in between takes effect then).
 */
CN_API int cn_set_num_threads(int threads);
CN_API int cn_get_num_threads(void);
CN_API int cn_serial_enter(void);
CN_API int cn_serial_leave(void);

/* Static, never-NULL English description of a status code (unknown codes included). */
CN_API const char* cn_status_message(int status);

/*
 * 2-D convolution geometry (no dilation, no groups).
 * Valid when n >= 0; c_in, h, w, c_out, kh, kw, stride_h, stride_w >= 1; pad_h, pad_w >= 0;
 * h + 2*pad_h >= kh, w + 2*pad_w >= kw; h_out == (h + 2*pad_h - kh)/stride_h + 1 and
 * w_out == (w + 2*pad_w - kw)/stride_w + 1.
 */
typedef struct {
    int64_t n, c_in, h, w, c_out, kh, kw, stride_h, stride_w, pad_h, pad_w, h_out, w_out;
} cn_conv2d_geom;

/* Checks a convolution geometry; CN_OK or CN_ERR_INVALID_ARGUMENT / CN_ERR_TOO_LARGE. */
CN_API int cn_conv2d_check(const cn_conv2d_geom* g);

/* y[N,Cout,Ho,Wo] = conv(x[N,Cin,H,W], w[Cout,Cin,kh,kw]); PyTorch cross-correlation, zero padding, no bias. */
CN_API int cn_conv2d_forward_f32(const cn_conv2d_geom* g, const float* x, const float* w, float* y);
CN_API int cn_conv2d_forward_f64(const cn_conv2d_geom* g, const double* x, const double* w, double* y);

/* gx[N,Cin,H,W] = d<y,gy>/dx: transposed convolution of gy[N,Cout,Ho,Wo] with w. Overwrites gx. */
CN_API int cn_conv2d_input_grad_f32(const cn_conv2d_geom* g, const float* gy, const float* w, float* gx);
CN_API int cn_conv2d_input_grad_f64(const cn_conv2d_geom* g, const double* gy, const double* w, double* gx);

/* gw[Cout,Cin,kh,kw] = d<y,gy>/dw summed over the batch. Overwrites gw (zeros when n == 0). */
CN_API int cn_conv2d_weight_grad_f32(const cn_conv2d_geom* g, const float* x, const float* gy, float* gw);
CN_API int cn_conv2d_weight_grad_f64(const cn_conv2d_geom* g, const double* x, const double* gy, double* gw);

/* cols[N, Cin*kh*kw, Ho*Wo] exactly as torch.nn.functional.unfold (row index = (c*kh + i)*kw + j). c_out is ignored. */
CN_API int cn_unfold_f32(const cn_conv2d_geom* g, const float* x, float* cols);
CN_API int cn_unfold_f64(const cn_conv2d_geom* g, const double* x, double* cols);

/* x[N,Cin,H,W] = adjoint of unfold applied to cols (overlaps summed, padding dropped). Overwrites x. c_out is ignored. */
CN_API int cn_fold_f32(const cn_conv2d_geom* g, const float* cols, float* x);
CN_API int cn_fold_f64(const cn_conv2d_geom* g, const double* cols, double* x);

/*
 * KFAC's input factor of a convolution without materialising the unfolded input (rows r = (c*kh + i)*kw + j as
 * cn_unfold). With U_n = unfold(x_n) [K, h_out*w_out], K = c_in*kh*kw, and m = K (augment == 0) or K + 1:
 *   c[m, m] = beta * c + alpha * sum_n V_n V_n^T,   V_n = U_n, or U_n with a row of ones appended (augment != 0:
 *   column K of c gets the row sums of the U_n, c[K, K] the count n*h_out*w_out).
 * Only the upper triangle (j >= i) of the row-major c (leading dimension ldc >= m) is read and written; the
 * strict lower triangle is untouched. Unlike the other kernels this ACCUMULATES into c, as BLAS's SYRK does
 * (beta == 0 overwrites without reading c). c_out is ignored; c must not overlap x.
 */
CN_API int cn_unfold_gram_f32(const cn_conv2d_geom* g, const float* x, float alpha, float beta, int augment, float* c, int64_t ldc);
CN_API int cn_unfold_gram_f64(const cn_conv2d_geom* g, const double* x, double alpha, double beta, int augment, double* c, int64_t ldc);

/* sums[N, K] = sum over the h_out*w_out positions of unfold(x_n) (KFAC-reduce's per-sample patch sums), from x
 * directly (accumulated in double). Overwrites sums. c_out is ignored. */
CN_API int cn_unfold_sum_f32(const cn_conv2d_geom* g, const float* x, float* sums);
CN_API int cn_unfold_sum_f64(const cn_conv2d_geom* g, const double* x, double* sums);

/*
 * 2-D max-pooling geometry (no dilation, floor mode).
 * Valid when n >= 0; c, h, w, kh, kw, stride_h, stride_w >= 1; 0 <= pad_h <= kh/2, 0 <= pad_w <= kw/2
 * (as PyTorch requires); h + 2*pad_h >= kh, w + 2*pad_w >= kw; h_out == (h + 2*pad_h - kh)/stride_h + 1,
 * w_out likewise.
 */
typedef struct {
    int64_t n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, h_out, w_out;
} cn_pool2d_geom;

CN_API int cn_pool2d_check(const cn_pool2d_geom* g);

/*
 * y[N,C,Ho,Wo] = max over each window of x[N,C,H,W]; argmax[N,C,Ho,Wo] = flat index into x (over all of
 * N*C*H*W, not per plane as PyTorch's indices) of the chosen element. Padding counts as -inf and is never
 * chosen; ties keep the first element in row-major window order; NaN propagates: a NaN in the window is the
 * result and, as in PyTorch's CPU kernel, the last NaN in window order is the one indexed.
 * argmax may be NULL when not needed.
 */
CN_API int cn_maxpool2d_forward_f32(const cn_pool2d_geom* g, const float* x, float* y, int64_t* argmax);
CN_API int cn_maxpool2d_forward_f64(const cn_pool2d_geom* g, const double* x, double* y, int64_t* argmax);

/*
 * Collapsed second-order Taylor rule of an elementwise activation y = f(z) (the forward Laplacian step), fused, on the
 * packed layout p = [z_1 (r rows); c_2 (one row when has_c2)], rows of n values (row-major [r + has_c2, n]):
 *   forward:  q[k] = f'(z) p[k] (k < r),  q[r] = f'(z) c_2 + f''(z) S,  S = sum_k w_k p[k]^2      (q is [r + 1, n])
 *   backward, given g = dL/dq [r + 1, n]:
 *     dp[k] = f'(z) g[k] + 2 w_k f''(z) p[k] g[r] (k < r),  dp[r] = f'(z) g[r] (when has_c2),
 *     dz = f''(z) (sum_k g[k] p[k] + g[r] c_2) + f'''(z) g[r] S.
 * y = f(z) is given (the forward pass has it; tanh, sigmoid and exp take their derivatives from it).
 * activation: CN_ACT_TANH, CN_ACT_SIGMOID, CN_ACT_SIN, CN_ACT_COS or CN_ACT_EXP. NULL weights means w_k = 1;
 * NULL dz or dp skips that gradient. n >= 0, r >= 0. AVX-512 or AVX2 when the CPU has it.
 */
enum {
    CN_ACT_TANH = 0,
    CN_ACT_SIGMOID = 1,
    CN_ACT_SIN = 2,
    CN_ACT_COS = 3,
    CN_ACT_EXP = 4
};

CN_API int cn_taylor2_forward_f32(int activation, int64_t n, int64_t r, int has_c2, const float* z, const float* y, const float* p,
                                  const float* weights, float* q);
CN_API int cn_taylor2_forward_f64(int activation, int64_t n, int64_t r, int has_c2, const double* z, const double* y, const double* p,
                                  const double* weights, double* q);
CN_API int cn_taylor2_backward_f32(int activation, int64_t n, int64_t r, int has_c2, const float* z, const float* y, const float* p,
                                   const float* weights, const float* g, float* dz, float* dp);
CN_API int cn_taylor2_backward_f64(int activation, int64_t n, int64_t r, int has_c2, const double* z, const double* y, const double* p,
                                   const double* weights, const double* g, double* dz, double* dp);

#ifdef __cplusplus
}
#endif

#endif /* CURVNATIVE_H */
