// Max-pooling forward with argmax (SSE4.1 fast path for 2x2 stride 2), behind the flat C ABI of curvnative.h.

#include "common.hpp"

namespace cn {
namespace {

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

extern "C" {

CN_API int cn_maxpool2d_forward_f32(const cn_pool2d_geom* g, const float* x, float* y, int64_t* argmax) {
    return cn::maxpool_forward(g, x, y, argmax);
}
CN_API int cn_maxpool2d_forward_f64(const cn_pool2d_geom* g, const double* x, double* y, int64_t* argmax) {
    return cn::maxpool_forward(g, x, y, argmax);
}

}  // extern "C"
