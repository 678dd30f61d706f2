// Minimal persistent thread pool for the memory-bound loops (im2col, col2im, copies, pooling).
// GEMMs are threaded by OpenBLAS itself; this pool only runs between them, and its workers block
// on a condition variable (after a short spin) so they do not steal cores from OpenBLAS.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace cn {

class ThreadPool {
public:
    static ThreadPool& instance();

    // Threads that take part in a parallel_for (the caller included).
    int size() const { return active_.load(std::memory_order_acquire); }

    // Sets the number of threads (clamped to [1, kMaxThreads]); starts workers when growing, parks the
    // surplus when shrinking (a parked worker never claims a part). Waits for a running parallel_for to end.
    // Returns the number now in use.
    int resize(int threads);

    // While at least one inline section is open (the host runs its own workers, each of which may call into
    // the kernels), every parallel_for runs on its caller's thread: the cores are the host's workers'.
    void enter_inline() { inline_.fetch_add(1, std::memory_order_acq_rel); }
    void leave_inline() { inline_.fetch_sub(1, std::memory_order_acq_rel); }

    // Runs body(begin, end) over [0, count) split into contiguous parts.
    // Falls back to running inline when the pool is busy (concurrent callers) or when
    // the total work (count * cost_per_item) is too small to pay for a wake-up.
    // body must not throw.
    template <class F>
    void parallel_for(int64_t count, double cost_per_item, F&& body) {
        run(count, cost_per_item, &invoke<std::remove_reference_t<F>>,
            const_cast<void*>(static_cast<const void*>(&body)));
    }

private:
    using Fn = void (*)(void*, int64_t, int64_t);
    template <class F>
    static void invoke(void* ctx, int64_t begin, int64_t end) {
        (*static_cast<F*>(ctx))(begin, end);
    }
    void run(int64_t count, double cost_per_item, Fn fn, void* ctx);
    explicit ThreadPool(int threads);
    void worker_loop(int index);
    // Claims part `part` of job `gen` if still available and runs it; true if it ran.
    bool try_run_part(uint64_t gen, int part);

    static constexpr int kMaxParts = 64;

public:
    static constexpr int kMaxThreads = 64;

private:
    // Starts workers until `threads` exist (caller included); called with busy_ held or from the constructor.
    void grow(int threads);

    int started_ = 1;                 // threads that exist, the caller included (workers are detached)
    std::atomic<int> active_{1};
    std::atomic<int> inline_{0};
    std::mutex busy_;                 // one parallel_for at a time
    std::mutex m_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    // Parts are claimed, not assigned: avail_[i] holds the generation whose part i nobody has taken yet
    // (0 once taken). The caller runs every part no worker has claimed, so a worker that wakes late
    // (its core busy with another process) costs nothing, and the caller only ever waits for parts
    // that are already running. The job fields are rewritten only after every part of the previous
    // job is done, and a worker reads them only after a successful claim.
    std::atomic<uint64_t> avail_[kMaxParts] = {};
    std::atomic<int> done_{0};
    std::atomic<int> parts_{0};
    Fn fn_ = nullptr;
    void* ctx_ = nullptr;
    int64_t count_ = 0;
};

}  // namespace cn
