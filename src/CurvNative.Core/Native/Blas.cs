using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// Row-major GEMM through OpenBLAS's CBLAS interface: C = alpha * op(A) * op(B) + beta * C.
/// Generic over float and double; the JIT removes the type test per instantiation.
/// </summary>
internal static unsafe partial class Blas
{
    private const string OpenBlas = "openblas";
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    static Blas() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(OpenBlas, EntryPoint = "cblas_sgemm")]
    private static partial void Sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(OpenBlas, EntryPoint = "cblas_dgemm")]
    private static partial void Dgemm(int order, int transA, int transB, int m, int n, int k,
        double alpha, double* a, int lda, double* b, int ldb, double beta, double* c, int ldc);

    [LibraryImport(OpenBlas, EntryPoint = "cblas_ssyrk")]
    private static partial void Ssyrk(int order, int uplo, int trans, int n, int k, float alpha, float* a, int lda, float beta, float* c, int ldc);

    [LibraryImport(OpenBlas, EntryPoint = "cblas_dsyrk")]
    private static partial void Dsyrk(int order, int uplo, int trans, int n, int k, double alpha, double* a, int lda, double beta, double* c, int ldc);

    /// <summary>
    /// Upper triangle of C[n,n] = alpha A^T A + beta C for row-major A [k, n] (a Gram matrix at half a GEMM's
    /// cost); the strict lower triangle of C is not touched.
    /// </summary>
    public static void SyrkTransposed<T>(int n, int k, T alpha, ReadOnlySpan<T> a, T beta, Span<T> c) where T : unmanaged
        => Syrk(true, n, k, alpha, a, n, beta, c, n);

    /// <summary>
    /// Upper triangle of C[n,n] (row stride ldc) = alpha op(A) op(A)^T + beta C, row-major: op(A) = A [n, k] (row
    /// stride lda &gt;= k) without <paramref name="transposed"/>, A^T for A [k, n] (lda &gt;= n) with it. The strict
    /// lower triangle of C is not touched; beta = 0 overwrites the upper triangle without reading it.
    /// </summary>
    public static void Syrk<T>(bool transposed, int n, int k, T alpha, ReadOnlySpan<T> a, int lda, T beta, Span<T> c, int ldc) where T : unmanaged
    {
        if (n == 0) return;
        if (ldc < n || lda < (transposed ? n : k) || lda < 1) throw new ArgumentOutOfRangeException(nameof(lda), $"SYRK strides lda = {lda}, ldc = {ldc} are too small for n = {n}, k = {k}.");
        if (c.Length < (long)(n - 1) * ldc + n) throw new ArgumentException($"C has {c.Length} elements, too few for [{n}, {n}] with row stride {ldc}.", nameof(c));
        if (k == 0)
        {
            // No rows: C = beta C on the upper triangle, as BLAS defines it.
            for (int i = 0; i < n; i++) ScaleRows(c.Slice(i * ldc + i, n - i), 1, n - i, n - i, beta);
            return;
        }
        long rowsOfA = transposed ? k : n, colsOfA = transposed ? n : k;
        if (a.Length < (rowsOfA - 1) * lda + colsOfA) throw new ArgumentException($"A has {a.Length} elements, too few for [{rowsOfA}, {colsOfA}] with row stride {lda}.", nameof(a));
        const int upper = 121;
        int trans = transposed ? Trans : NoTrans;
        fixed (T* pa = a) fixed (T* pc = c)
        {
            if (typeof(T) == typeof(float))
                Ssyrk(RowMajor, upper, trans, n, k, Unsafe.As<T, float>(ref alpha), (float*)pa, lda, Unsafe.As<T, float>(ref beta), (float*)pc, ldc);
            else if (typeof(T) == typeof(double))
                Dsyrk(RowMajor, upper, trans, n, k, Unsafe.As<T, double>(ref alpha), (double*)pa, lda, Unsafe.As<T, double>(ref beta), (double*)pc, ldc);
            else
                throw new NotSupportedException($"SYRK supports float and double, not {typeof(T).Name}.");
        }
    }

    [LibraryImport(OpenBlas, EntryPoint = "cblas_strsm")]
    private static partial void Strsm(int order, int side, int uplo, int transA, int diag, int m, int n, float alpha, float* a, int lda, float* b, int ldb);

    [LibraryImport(OpenBlas, EntryPoint = "cblas_dtrsm")]
    private static partial void Dtrsm(int order, int side, int uplo, int transA, int diag, int m, int n, double alpha, double* a, int lda, double* b, int ldb);

    /// <summary>
    /// B[m,n] = B L^-T in place (row-major, B's row stride n) for the lower triangle L of the row-major n x n matrix
    /// <paramref name="lower"/> (the strict upper triangle is not read), as a Cholesky factor from
    /// <see cref="Lapack.Cholesky{T}"/> leaves it: the rows of B solved against L^T (xTRSM, side right).
    /// </summary>
    public static void SolveLowerTransposedRight<T>(int m, int n, ReadOnlySpan<T> lower, Span<T> b) where T : unmanaged
    {
        if (m == 0 || n == 0) return;
        if (lower.Length < (long)n * n) throw new ArgumentException($"L has {lower.Length} elements, too few for [{n}, {n}].", nameof(lower));
        if (b.Length < (long)m * n) throw new ArgumentException($"B has {b.Length} elements, too few for [{m}, {n}].", nameof(b));
        const int right = 142, lowerTriangle = 122, nonUnit = 131;
        fixed (T* pl = lower) fixed (T* pb = b)
        {
            if (typeof(T) == typeof(float)) Strsm(RowMajor, right, lowerTriangle, Trans, nonUnit, m, n, 1f, (float*)pl, n, (float*)pb, n);
            else if (typeof(T) == typeof(double)) Dtrsm(RowMajor, right, lowerTriangle, Trans, nonUnit, m, n, 1d, (double*)pl, n, (double*)pb, n);
            else throw new NotSupportedException($"TRSM supports float and double, not {typeof(T).Name}.");
        }
    }

    /// <summary>C[m,n] = alpha op(A) op(B) + beta C, row-major, op(A) is [m,k], op(B) is [k,n].</summary>
    public static void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            // BLAS would only scale C; do it here so empty inner dimensions stay well-defined.
            ScaleRows(c, m, n, ldc, beta);
            return;
        }
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c)
        {
            int ta = transA ? Trans : NoTrans, tb = transB ? Trans : NoTrans;
            if (typeof(T) == typeof(float))
                Sgemm(RowMajor, ta, tb, m, n, k, Unsafe.As<T, float>(ref alpha), (float*)pa, lda,
                    (float*)pb, ldb, Unsafe.As<T, float>(ref beta), (float*)pc, ldc);
            else if (typeof(T) == typeof(double))
                Dgemm(RowMajor, ta, tb, m, n, k, Unsafe.As<T, double>(ref alpha), (double*)pa, lda,
                    (double*)pb, ldb, Unsafe.As<T, double>(ref beta), (double*)pc, ldc);
            else
                throw new NotSupportedException($"GEMM supports float and double, not {typeof(T).Name}.");
        }
    }

    private static void ScaleRows<T>(Span<T> c, int m, int n, int ldc, T beta) where T : unmanaged
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (typeof(T) == typeof(float))
            {
                var r = MemoryMarshal.Cast<T, float>(row);
                float bf = Unsafe.As<T, float>(ref beta);
                if (bf == 0f) r.Clear(); else System.Numerics.Tensors.TensorPrimitives.Multiply(r, bf, r);
            }
            else
            {
                var r = MemoryMarshal.Cast<T, double>(row);
                double bd = Unsafe.As<T, double>(ref beta);
                if (bd == 0d) r.Clear(); else System.Numerics.Tensors.TensorPrimitives.Multiply(r, bd, r);
            }
        }
    }
}
