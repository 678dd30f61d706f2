// Micro-benchmark of the conv kernels on the reference CNN (batch 64, 3x32x32,
// Conv2d(3,16,3,pad=1) then Conv2d(16,32,3,pad=1)), float32. Build with
// -DCURVNATIVE_BUILD_BENCH=ON; run ./curvnative_bench [reps].
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
    auto gf = [](double flop, double ms) { return flop / ms / 1e6; };
    double fl1 = 2.0 * n * 1024 * 16 * 27, fl2 = 2.0 * n * 1024 * 32 * 144;
    std::printf("conv1 fwd      %7.3f ms  %6.1f GFLOP/s\n", f1, gf(fl1, f1));
    std::printf("conv2 fwd      %7.3f ms  %6.1f GFLOP/s\n", f2, gf(fl2, f2));
    std::printf("conv2 in-grad  %7.3f ms  %6.1f GFLOP/s\n", i2, gf(fl2, i2));
    std::printf("conv2 w-grad   %7.3f ms  %6.1f GFLOP/s\n", wg2, gf(fl2, wg2));
    std::printf("conv1 w-grad   %7.3f ms  %6.1f GFLOP/s\n", wg1, gf(fl1, wg1));
    std::printf("total          %7.3f ms\n", f1 + f2 + i2 + wg2 + wg1);
    return 0;
}
