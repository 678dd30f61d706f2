// Convolutions: im2col + one OpenBLAS GEMM per chunk of images (forward, input and weight gradients), unfold and
// fold, behind the flat C ABI of curvnative.h.

#include "common.hpp"

namespace cn {
namespace {

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

}  // namespace
}  // namespace cn

extern "C" {

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

}  // extern "C"
