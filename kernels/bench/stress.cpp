// Randomised self-check of every kernel against naive loops, over many small geometries including
// the degenerate ones, meant to run under -fsanitize=address,undefined:
//   cmake -S kernels -B /tmp/cn-asan -DCMAKE_BUILD_TYPE=Debug -DCURVNATIVE_BUILD_BENCH=ON \
//         -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
//   cmake --build /tmp/cn-asan && /tmp/cn-asan/curvnative_stress 300
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "curvnative.h"

namespace {

std::mt19937_64 rng(12345);
int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

std::vector<double> randv(int64_t n) {
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<double> v(static_cast<size_t>(n));
    for (auto& e : v) e = u(rng);
    return v;
}

bool tap(const cn_conv2d_geom& g, int64_t oh, int64_t ow, int64_t i, int64_t j, int64_t& ih, int64_t& iw) {
    ih = oh * g.stride_h - g.pad_h + i;
    iw = ow * g.stride_w - g.pad_w + j;
    return ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
}

int failures = 0;
void expect(bool ok, const char* what, const cn_conv2d_geom& g) {
    if (ok) return;
    ++failures;
    std::printf("FAIL %s n=%ld cin=%ld h=%ld w=%ld cout=%ld k=%ldx%ld s=%ldx%ld p=%ldx%ld\n", what, (long)g.n,
                (long)g.c_in, (long)g.h, (long)g.w, (long)g.c_out, (long)g.kh, (long)g.kw, (long)g.stride_h,
                (long)g.stride_w, (long)g.pad_h, (long)g.pad_w);
}

double maxdiff(const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

void check_conv(const cn_conv2d_geom& g) {
    const int64_t K = g.c_in * g.kh * g.kw, P = g.h_out * g.w_out;
    auto x = randv(g.n * g.c_in * g.h * g.w), w = randv(g.c_out * K), gy = randv(g.n * g.c_out * P);
    std::vector<double> y(gy.size()), gx(x.size()), gw(w.size()), cols(static_cast<size_t>(g.n * K * P)), fx(x.size());
    std::vector<double> ry(y.size()), rgx(x.size()), rgw(w.size()), rcols(cols.size()), rfx(x.size());
    auto cols_in = randv(static_cast<int64_t>(cols.size()));
    for (int64_t b = 0; b < g.n; ++b)
        for (int64_t co = 0; co < g.c_out; ++co)
            for (int64_t ci = 0; ci < g.c_in; ++ci)
                for (int64_t i = 0; i < g.kh; ++i)
                    for (int64_t j = 0; j < g.kw; ++j)
                        for (int64_t oh = 0; oh < g.h_out; ++oh)
                            for (int64_t ow = 0; ow < g.w_out; ++ow) {
                                int64_t ih, iw;
                                if (!tap(g, oh, ow, i, j, ih, iw)) continue;
                                int64_t xi = ((b * g.c_in + ci) * g.h + ih) * g.w + iw;
                                int64_t yi = ((b * g.c_out + co) * g.h_out + oh) * g.w_out + ow;
                                int64_t wi = ((co * g.c_in + ci) * g.kh + i) * g.kw + j;
                                ry[yi] += x[xi] * w[wi];
                                rgx[xi] += gy[yi] * w[wi];
                                rgw[wi] += gy[yi] * x[xi];
                            }
    for (int64_t b = 0; b < g.n; ++b)
        for (int64_t ci = 0; ci < g.c_in; ++ci)
            for (int64_t i = 0; i < g.kh; ++i)
                for (int64_t j = 0; j < g.kw; ++j)
                    for (int64_t oh = 0; oh < g.h_out; ++oh)
                        for (int64_t ow = 0; ow < g.w_out; ++ow) {
                            int64_t ih, iw;
                            int64_t ci_ = (b * K + (ci * g.kh + i) * g.kw + j) * P + oh * g.w_out + ow;
                            if (!tap(g, oh, ow, i, j, ih, iw)) continue;
                            int64_t xi = ((b * g.c_in + ci) * g.h + ih) * g.w + iw;
                            rcols[ci_] = x[xi];
                            rfx[xi] += cols_in[ci_];
                        }
    expect(cn_conv2d_forward_f64(&g, x.data(), w.data(), y.data()) == CN_OK && maxdiff(y, ry) < 1e-10, "forward", g);
    expect(cn_conv2d_input_grad_f64(&g, gy.data(), w.data(), gx.data()) == CN_OK && maxdiff(gx, rgx) < 1e-10, "input grad", g);
    expect(cn_conv2d_weight_grad_f64(&g, x.data(), gy.data(), gw.data()) == CN_OK && maxdiff(gw, rgw) < 1e-10, "weight grad", g);
    expect(cn_unfold_f64(&g, x.data(), cols.data()) == CN_OK && maxdiff(cols, rcols) == 0, "unfold", g);
    expect(cn_fold_f64(&g, cols_in.data(), fx.data()) == CN_OK && maxdiff(fx, rfx) < 1e-10, "fold", g);
    std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), yf(y.size());
    expect(cn_conv2d_forward_f32(&g, xf.data(), wf.data(), yf.data()) == CN_OK, "forward f32 status", g);
}

}  // namespace

int main(int argc, char** argv) {
    int iters = argc > 1 ? std::atoi(argv[1]) : 200;
    for (int it = 0; it < iters; ++it) {
        cn_conv2d_geom g{};
        g.n = pick(0, 5); g.c_in = pick(1, 4); g.h = pick(1, 12); g.w = pick(1, 12); g.c_out = pick(1, 5);
        g.kh = pick(1, 5); g.kw = pick(1, 5); g.stride_h = pick(1, 3); g.stride_w = pick(1, 3);
        g.pad_h = pick(0, 3); g.pad_w = pick(0, 3);
        if (it % 7 == 0) { g.kh = g.kw = 1; g.stride_h = g.stride_w = 1; g.pad_h = g.pad_w = 0; }
        if (g.h + 2 * g.pad_h < g.kh || g.w + 2 * g.pad_w < g.kw) {
            g.h_out = g.w_out = 1;
            expect(cn_conv2d_check(&g) == CN_ERR_INVALID_ARGUMENT, "rejects kernel > padded input", g);
            continue;
        }
        g.h_out = (g.h + 2 * g.pad_h - g.kh) / g.stride_h + 1;
        g.w_out = (g.w + 2 * g.pad_w - g.kw) / g.stride_w + 1;
        check_conv(g);
        if (it % 5 == 0) {  // a bigger one that takes the threaded path
            cn_conv2d_geom b = g;
            b.n = pick(3, 6); b.c_in = pick(4, 8); b.c_out = pick(8, 16); b.h = pick(16, 24); b.w = pick(16, 24);
            b.h_out = (b.h + 2 * b.pad_h - b.kh) / b.stride_h + 1;
            b.w_out = (b.w + 2 * b.pad_w - b.kw) / b.stride_w + 1;
            check_conv(b);
        }
    }
    // Invalid arguments.
    cn_conv2d_geom bad{1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 2, 3};
    expect(cn_conv2d_check(&bad) == CN_ERR_INVALID_ARGUMENT, "rejects wrong w_out", bad);
    bad.w_out = 2;
    float buf[16] = {};
    expect(cn_conv2d_forward_f32(&bad, nullptr, buf, buf) == CN_ERR_INVALID_ARGUMENT, "rejects null x", bad);
    expect(cn_conv2d_forward_f32(nullptr, buf, buf, buf) == CN_ERR_INVALID_ARGUMENT, "rejects null geometry", bad);
    cn_conv2d_geom huge{INT64_MAX / 2, 4, 4, 4, 1, 1, 1, 1, 1, 0, 0, 4, 4};
    expect(cn_conv2d_check(&huge) == CN_ERR_TOO_LARGE, "rejects overflowing sizes", huge);
    cn_pool2d_geom pg{1, 1, 4, 4, 3, 3, 1, 1, 2, 0, 6, 2};
    expect(cn_pool2d_check(&pg) == CN_ERR_INVALID_ARGUMENT, "pool rejects pad > k/2", bad);
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
