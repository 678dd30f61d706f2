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
