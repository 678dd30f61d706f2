#include "parallel.hpp"

#include <algorithm>
#include <cstdlib>

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CN_PAUSE() _mm_pause()
#else
#define CN_PAUSE() ((void)0)
#endif

namespace cn {

namespace {

int env_threads(const char* name) {
    if (const char* env = std::getenv(name)) {
        char* end = nullptr;
        long v = std::strtol(env, &end, 10);
        if (end != env && v >= 1) return static_cast<int>(std::min(v, 64L));
    }
    return 0;
}

// CURVNATIVE_NUM_THREADS, else OPENBLAS_NUM_THREADS (so that a process limited to one BLAS thread
// stays single-threaded), else the CPUs this process may run on.
int configured_threads() {
    if (int v = env_threads("CURVNATIVE_NUM_THREADS")) return v;
    if (int v = env_threads("OPENBLAS_NUM_THREADS")) return v;
    int n = 0;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
#endif
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(n, 1, 16);  // the default; resize() may go higher
}

// Below this much estimated work (roughly "elements touched") a wake-up is not worth it.
constexpr double kMinParallelWork = 32768.0;
constexpr int kSpinIterations = 4000;
// Parts per thread: more parts than threads lets the caller take over the share of a worker that
// is late or descheduled instead of waiting for it.
constexpr int kPartsPerThread = 4;

}  // namespace

ThreadPool& ThreadPool::instance() {
    // Deliberately leaked: worker threads must never be joined from a static destructor
    // while the host runtime (e.g. .NET) is shutting down.
    static ThreadPool* pool = new ThreadPool(configured_threads());
    return *pool;
}

ThreadPool::ThreadPool(int threads) {
    grow(threads);
    active_.store(started_, std::memory_order_release);
}

void ThreadPool::grow(int threads) {
    try {
        for (; started_ < std::min(threads, kMaxThreads); ++started_) {
            const int index = started_;
            std::thread([this, index] { worker_loop(index); }).detach();
        }
    } catch (...) {
        // Could not start (all) threads: run with whatever started.
    }
}

int ThreadPool::resize(int threads) {
    threads = std::clamp(threads, 1, kMaxThreads);
    // No job runs while the count changes, so a job's workers all see one count.
    std::lock_guard<std::mutex> busy(busy_);
    grow(threads);
    active_.store(std::min(threads, started_), std::memory_order_release);
    return size();
}

bool ThreadPool::try_run_part(uint64_t gen, int part) {
    uint64_t expected = gen;
    if (!avail_[part].compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return false;
    // The claim succeeded, so this job cannot finish (and its fields cannot change) before done_ counts it.
    const int parts = parts_.load(std::memory_order_relaxed);
    const int64_t begin = count_ * part / parts, end = count_ * (part + 1) / parts;
    if (begin < end) fn_(ctx_, begin, end);
    done_.fetch_add(1, std::memory_order_acq_rel);
    return true;
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        if (gen == seen) {
            for (int spin = 0; spin < kSpinIterations && gen == seen; ++spin) {
                CN_PAUSE();
                gen = generation_.load(std::memory_order_acquire);
            }
            if (gen == seen) {
                std::unique_lock<std::mutex> lock(m_);
                cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
                gen = generation_.load(std::memory_order_acquire);
            }
        }
        seen = gen;
        const int threads = size();
        if (index >= threads) continue;  // parked by resize()
        // Start at this worker's own share, then help with the rest. A stale `parts` (from a newer job
        // being set up) is harmless: no part of it is available under this generation.
        const int parts = std::min(parts_.load(std::memory_order_relaxed), kMaxParts);
        const int first = parts * index / threads;
        for (int k = 0; k < parts; ++k) try_run_part(gen, (first + k) % parts);
    }
}

void ThreadPool::run(int64_t count, double cost_per_item, Fn fn, void* ctx) {
    if (count <= 0) return;
    int threads = size();
    if (threads <= 1 || inline_.load(std::memory_order_acquire) > 0 || count == 1 || static_cast<double>(count) * cost_per_item < kMinParallelWork) {
        fn(ctx, 0, count);
        return;
    }
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {
        fn(ctx, 0, count);
        return;
    }
    const int parts = static_cast<int>(std::min<int64_t>({count, int64_t{threads} * kPartsPerThread, kMaxParts}));
    uint64_t gen;
    {
        std::lock_guard<std::mutex> lock(m_);
        // Every part of the previous job is done (we waited for it), so nobody reads these now.
        fn_ = fn;
        ctx_ = ctx;
        count_ = count;
        parts_.store(parts, std::memory_order_relaxed);
        done_.store(0, std::memory_order_relaxed);
        gen = generation_.load(std::memory_order_relaxed) + 1;
        for (int i = 0; i < parts; ++i) avail_[i].store(gen, std::memory_order_relaxed);
        generation_.store(gen, std::memory_order_release);
    }
    cv_.notify_all();
    for (int i = 0; i < parts; ++i) try_run_part(gen, i);
    // Only parts that a worker claimed and is running remain.
    for (int spin = 0; done_.load(std::memory_order_acquire) != parts; ++spin) {
        if (spin < kSpinIterations) CN_PAUSE();
        else std::this_thread::yield();
    }
}

}  // namespace cn
