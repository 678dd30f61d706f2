// GEMM and SYRK dispatch over OpenBLAS (row-major, float and double): the dense helpers every family of
// libcurvnative uses. Included by common.hpp after the status helpers (as_blas_int) it relies on.
#pragma once

#include <cstdint>

// CBLAS prototypes (declared here to avoid depending on one vendor's cblas.h; blasint is 32-bit int
// in Debian's OpenBLAS, enums are passed as int).
extern "C" {
void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc);
void cblas_dgemm(int order, int transa, int transb, int m, int n, int k, double alpha, const double* a,
                 int lda, const double* b, int ldb, double beta, double* c, int ldc);
void cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float* a, int lda, float beta,
                 float* c, int ldc);
void cblas_dsyrk(int order, int uplo, int trans, int n, int k, double alpha, const double* a, int lda,
                 double beta, double* c, int ldc);
}

namespace cn {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kUpper = 121;

// ---------------------------------------------------------------------------------------------
// GEMM dispatch (row-major)

inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    cblas_sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, as_blas_int(m), as_blas_int(n),
                as_blas_int(k), alpha, a, as_blas_int(lda), b, as_blas_int(ldb), beta, c, as_blas_int(ldc));
}
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                 const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
    cblas_dgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, as_blas_int(m), as_blas_int(n),
                as_blas_int(k), alpha, a, as_blas_int(lda), b, as_blas_int(ldb), beta, c, as_blas_int(ldc));
}

// Upper triangle of c[n,n] = alpha a a^T + beta c for row-major a [n, k] (SYRK, no transpose).
inline void syrk_rows(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c, int64_t ldc) {
    cblas_ssyrk(kRowMajor, kUpper, kNoTrans, as_blas_int(n), as_blas_int(k), alpha, a, as_blas_int(lda), beta, c,
                as_blas_int(ldc));
}
inline void syrk_rows(int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta, double* c,
                      int64_t ldc) {
    cblas_dsyrk(kRowMajor, kUpper, kNoTrans, as_blas_int(n), as_blas_int(k), alpha, a, as_blas_int(lda), beta, c,
                as_blas_int(ldc));
}

}  // namespace cn
