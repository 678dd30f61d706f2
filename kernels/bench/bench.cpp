// Micro-benchmark of the conv and pool kernels on the reference CNN (batch 64, 3x32x32,
// Conv2d(3,16,3,pad=1) MaxPool2d(2) Conv2d(16,32,3,pad=1) MaxPool2d(2), as in
// benchmarks/ and tools/bench_torch.py; "conv2@32" is the same conv on the unpooled 32x32 input),
// float32, best of [reps]. Build with -DCURVNATIVE_BUILD_BENCH=ON; run ./curvnative_bench [reps].
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "curvnative.h"

static cn_conv2d_geom geom(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t k, int64_t s,
                           int64_t p) {
    cn_conv2d_geom g{n, cin, h, w, cout, k, k, s, s, p, p, 0, 0};
    g.h_out = (h + 2 * p - k) / s + 1;
    g.w_out = (w + 2 * p - k) / s + 1;
    return g;
}

template <class F>
static double time_ms(int reps, F&& f) {
    f();  // warm-up
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    return best;
}

int main(int argc, char** argv) {
    int reps = argc > 1 ? std::atoi(argv[1]) : 20;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    auto fill = [&](std::vector<float>& v) { for (auto& e : v) e = nd(rng); };
    const int64_t n = 64;
    cn_conv2d_geom g1 = geom(n, 3, 32, 32, 16, 3, 1, 1), g2 = geom(n, 16, 32, 32, 32, 3, 1, 1);
    std::vector<float> x(n * 3 * 1024), w1(16 * 27), y1(n * 16 * 1024), w2(32 * 144), y2(n * 32 * 1024);
    std::vector<float> gy2(y2.size()), gy1(y1.size()), gw1(w1.size()), gw2(w2.size());
    fill(x); fill(w1); fill(w2); fill(gy2); fill(gy1);
    double f1 = time_ms(reps, [&] { cn_conv2d_forward_f32(&g1, x.data(), w1.data(), y1.data()); });
    double f2 = time_ms(reps, [&] { cn_conv2d_forward_f32(&g2, y1.data(), w2.data(), y2.data()); });
    double i2 = time_ms(reps, [&] { cn_conv2d_input_grad_f32(&g2, gy2.data(), w2.data(), gy1.data()); });
    double wg2 = time_ms(reps, [&] { cn_conv2d_weight_grad_f32(&g2, y1.data(), gy2.data(), gw2.data()); });
    double wg1 = time_ms(reps, [&] { cn_conv2d_weight_grad_f32(&g1, x.data(), gy1.data(), gw1.data()); });
    // The benchmark model's second conv runs on the pooled 16x16 maps.
    cn_conv2d_geom g3 = geom(n, 16, 16, 16, 32, 3, 1, 1);
    std::vector<float> x3(n * 16 * 256), y3(n * 32 * 256), gy3(y3.size()), gx3(x3.size());
    fill(x3); fill(gy3);
    double f3 = time_ms(reps, [&] { cn_conv2d_forward_f32(&g3, x3.data(), w2.data(), y3.data()); });
    double i3 = time_ms(reps, [&] { cn_conv2d_input_grad_f32(&g3, gy3.data(), w2.data(), gx3.data()); });
    double wg3 = time_ms(reps, [&] { cn_conv2d_weight_grad_f32(&g3, x3.data(), gy3.data(), gw2.data()); });
    cn_pool2d_geom p1{n, 16, 32, 32, 2, 2, 2, 2, 0, 0, 16, 16}, p2{n, 32, 16, 16, 2, 2, 2, 2, 0, 0, 8, 8};
    std::vector<float> py1(n * 16 * 256), py2(n * 32 * 64);
    std::vector<int64_t> pi1(py1.size()), pi2(py2.size());
    double mp1 = time_ms(reps, [&] { cn_maxpool2d_forward_f32(&p1, y1.data(), py1.data(), pi1.data()); });
    double mp2 = time_ms(reps, [&] { cn_maxpool2d_forward_f32(&p2, y3.data(), py2.data(), pi2.data()); });
    auto gf = [](double flop, double ms) { return flop / ms / 1e6; };
    double fl1 = 2.0 * n * 1024 * 16 * 27, fl2 = 2.0 * n * 1024 * 32 * 144;
    std::printf("conv1 fwd      %7.3f ms  %6.1f GFLOP/s\n", f1, gf(fl1, f1));
    std::printf("conv2@32 fwd   %7.3f ms  %6.1f GFLOP/s\n", f2, gf(fl2, f2));
    std::printf("conv2@32 in-gr %7.3f ms  %6.1f GFLOP/s\n", i2, gf(fl2, i2));
    std::printf("conv2@32 w-gr  %7.3f ms  %6.1f GFLOP/s\n", wg2, gf(fl2, wg2));
    std::printf("conv1 w-grad   %7.3f ms  %6.1f GFLOP/s\n", wg1, gf(fl1, wg1));
    std::printf("conv2 fwd      %7.3f ms  %6.1f GFLOP/s\n", f3, gf(fl2 / 4, f3));
    std::printf("conv2 in-grad  %7.3f ms  %6.1f GFLOP/s\n", i3, gf(fl2 / 4, i3));
    std::printf("conv2 w-grad   %7.3f ms  %6.1f GFLOP/s\n", wg3, gf(fl2 / 4, wg3));
    std::printf("maxpool1       %7.3f ms\n", mp1);
    std::printf("maxpool2       %7.3f ms\n", mp2);
    std::printf("model total    %7.3f ms (conv1 fwd+w-grad, conv2 fwd+in-grad+w-grad, both pools)\n",
                f1 + wg1 + f3 + i3 + wg3 + mp1 + mp2);
    return 0;
}
