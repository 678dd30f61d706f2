/*
 * libcurvnative_mpi.so: the few MPI calls CurvNative needs, behind a flat C ABI for P/Invoke (the managed side
 * cannot use mpi.h's types, which differ between MPICH and Open MPI). Built only when CMake finds MPI; the
 * managed library loads it only when it runs under mpiexec, so one process needs no MPI installed.
 * Every function returns an MPI error class (0 = success); communication is on MPI_COMM_WORLD, whose error
 * handler is set to MPI_ERRORS_RETURN so that a failure comes back as a status instead of aborting inside.
 */
#include <mpi.h>
#include <stdint.h>
#include <string.h>

#define CN_MPI_API __attribute__((visibility("default")))

/* A chunk of at most 2^30 elements per call: MPI counts are int. */
static const int64_t kChunk = (int64_t)1 << 30;

CN_MPI_API int cn_mpi_init(int* rank, int* size) {
    int initialized = 0, rc = MPI_Initialized(&initialized);
    if (rc != MPI_SUCCESS) return rc;
    if (!initialized) {
        rc = MPI_Init(NULL, NULL);
        if (rc != MPI_SUCCESS) return rc;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

CN_MPI_API int cn_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? MPI_SUCCESS : MPI_Finalize();
}

/* Ends every process of MPI_COMM_WORLD with exit code `code` (the launcher reports it). */
CN_MPI_API int cn_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

CN_MPI_API int cn_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

/*
 * buf[0 .. count) = the sum over the ranks of their buf, in place, then broadcast from rank 0, so every rank holds
 * the same bits whatever reduction tree the MPI library picked (ranks branch on these values in lockstep).
 */
CN_MPI_API int cn_mpi_allreduce_sum_f64(double* buf, int64_t count) {
    for (int64_t offset = 0; offset < count; offset += kChunk) {
        int n = (int)(count - offset < kChunk ? count - offset : kChunk);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + offset, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        rc = MPI_Bcast(buf + offset, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

/* value = the largest of the ranks' values (agreement on a status). */
CN_MPI_API int cn_mpi_allreduce_max_i32(int* value) {
    return MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}

/* The MPI library's description of an error code into text[0 .. capacity), NUL-terminated. */
CN_MPI_API int cn_mpi_error_string(int code, char* text, int capacity) {
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (capacity <= 0) return MPI_SUCCESS;
    if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) length = 0;
    if (length >= capacity) length = capacity - 1;
    memcpy(text, buffer, (size_t)length);
    text[length] = '\0';
    return MPI_SUCCESS;
}
