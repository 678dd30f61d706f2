// The library's runtime ABI: version, status messages, thread counts (pool and OpenBLAS), the host's serial
// sections and the geometry checks.

#include "common.hpp"

extern "C" {

CN_API int cn_version(void) { return CN_VERSION; }

CN_API int cn_set_num_threads(int threads) {
    if (threads < 1) return CN_ERR_INVALID_ARGUMENT;
    try {
        const int pool = cn::ThreadPool::instance().resize(threads);
        cn::BlasThreads::set(pool);
        return CN_OK;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

CN_API int cn_get_num_threads(void) {
    try {
        return cn::ThreadPool::instance().size();
    } catch (...) {
        return 1;
    }
}

CN_API int cn_serial_enter(void) {
    try {
        cn::ThreadPool::instance().enter_inline();
        cn::BlasThreads::enter();
        return CN_OK;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

CN_API int cn_serial_leave(void) {
    try {
        cn::BlasThreads::leave();
        cn::ThreadPool::instance().leave_inline();
        return CN_OK;
    } catch (...) {
        return CN_ERR_INTERNAL;
    }
}

CN_API const char* cn_status_message(int status) {
    switch (status) {
        case CN_OK: return "ok";
        case CN_ERR_INVALID_ARGUMENT:
            return "invalid argument: inconsistent geometry or a null pointer for a non-empty tensor";
        case CN_ERR_OUT_OF_MEMORY: return "out of memory while allocating native scratch space";
        case CN_ERR_TOO_LARGE:
            return "sizes too large: an element count overflows 64 bits or a GEMM dimension exceeds 2^31-1";
        case CN_ERR_INTERNAL: return "internal error in libcurvnative (unexpected C++ exception)";
        default: return "unknown libcurvnative status code";
    }
}

CN_API int cn_conv2d_check(const cn_conv2d_geom* g) {
    return cn::guarded([&] { cn::Conv c; cn::check_conv(g, true, c); });
}

CN_API int cn_pool2d_check(const cn_pool2d_geom* g) {
    return cn::guarded([&] { cn::Pool p; cn::check_pool(g, p); });
}

}  // extern "C"
