using System.Numerics;
using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>Small dense kernels shared by the structured operators. Arguments are trusted.</summary>
internal static class Kernels
{
    /// <summary>C = op(A) op(B) as a new [m, n] tensor; A is stored [aRows, aCols], B [bRows, bCols], both row-major.</summary>
    public static Tensor<T> Gemm<T>(ReadOnlySpan<T> a, int aRows, int aCols, bool transA,
        ReadOnlySpan<T> b, int bRows, int bCols, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = transA ? aCols : aRows, k = transA ? aRows : aCols, n = transB ? bRows : bCols;
        var c = Tensor<T>.Uninitialized(m, n);
        // Blas.Gemm writes every element with beta = 0 and clears C itself when k = 0.
        Blas.Gemm(transA, transB, m, n, k, T.One, a, aCols, b, bCols, T.Zero, c.Span, n);
        return c;
    }

    /// <summary>dst[j, i, :] = src[i, j, :] for src of shape [d0, d1, inner] (a copy with the two leading axes swapped).</summary>
    public static void SwapLeadingAxes<T>(ReadOnlySpan<T> src, int d0, int d1, int inner, Span<T> dst)
    {
        for (int i = 0; i < d0; i++)
            for (int j = 0; j < d1; j++)
                src.Slice((i * d1 + j) * inner, inner).CopyTo(dst.Slice((j * d0 + i) * inner, inner));
    }

    /// <summary>A new [cols, rows] tensor holding the transpose of the [rows, cols] row-major matrix.</summary>
    public static Tensor<T> Transpose<T>(ReadOnlySpan<T> a, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(cols, rows);
        SwapLeadingAxes(a, rows, cols, 1, t.Span);
        return t;
    }

    /// <summary>dst = α src.</summary>
    public static void Scale<T>(ReadOnlySpan<T> src, T alpha, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
        => System.Numerics.Tensors.TensorPrimitives.Multiply(src, alpha, dst);

    /// <summary>acc += x.</summary>
    public static void AddInPlace<T>(Span<T> acc, ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => System.Numerics.Tensors.TensorPrimitives.Add(acc, x, acc);

    /// <summary>Σ_i a[i, i] of an [n, n] matrix, accumulated in double.</summary>
    public static double Trace<T>(ReadOnlySpan<T> a, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double s = 0;
        for (int i = 0; i < n; i++) s += double.CreateTruncating(a[i * n + i]);
        return s;
    }

    /// <summary>‖a‖_F = sqrt(Σ a²), accumulated in double with scaling against overflow.</summary>
    public static double FrobeniusNorm<T>(ReadOnlySpan<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double scale = 0;
        foreach (var v in a) scale = Math.Max(scale, Math.Abs(double.CreateTruncating(v)));
        if (scale == 0 || double.IsNaN(scale)) return scale;
        if (double.IsInfinity(scale)) return double.PositiveInfinity;
        double s = 0;
        foreach (var v in a) { double r = double.CreateTruncating(v) / scale; s += r * r; }
        return scale * Math.Sqrt(s);
    }

    /// <summary>
    /// Sign and log|det| of an [n, n] matrix by LU with partial pivoting in double (no LAPACK binding
    /// in Core yet). An exactly zero pivot gives (0, −∞); a NaN pivot candidate gives (0, NaN).
    /// The determinant of the empty matrix is 1.
    /// </summary>
    public static (int Sign, double LogAbs) SignLogDet<T>(ReadOnlySpan<T> a, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var lu = new double[n * n];
        for (int i = 0; i < lu.Length; i++) lu[i] = double.CreateTruncating(a[i]);
        int sign = 1;
        double logAbs = 0;
        for (int k = 0; k < n; k++)
        {
            int p = k;
            double best = Math.Abs(lu[k * n + k]);
            for (int i = k + 1; i < n; i++)
            {
                double v = Math.Abs(lu[i * n + k]);
                if (v > best || double.IsNaN(v)) { best = v; p = i; if (double.IsNaN(v)) break; }
            }
            if (double.IsNaN(best)) return (0, double.NaN);
            if (best == 0) return (0, double.NegativeInfinity);
            if (p != k)
            {
                for (int j = 0; j < n; j++) (lu[k * n + j], lu[p * n + j]) = (lu[p * n + j], lu[k * n + j]);
                sign = -sign;
            }
            double pivot = lu[k * n + k];
            if (pivot < 0) sign = -sign;
            logAbs += Math.Log(Math.Abs(pivot));
            for (int i = k + 1; i < n; i++)
            {
                double f = lu[i * n + k] / pivot;
                if (f == 0) continue;
                for (int j = k + 1; j < n; j++) lu[i * n + j] -= f * lu[k * n + j];
            }
        }
        return (sign, logAbs);
    }
}
