using System.Numerics;
using CurvNative.Operators;
using CurvNative.Tensors;
using Xunit;
using Xunit.Sdk;

namespace CurvNative.Tests.Operators;

/// <summary>
/// An independent dense reference for an operator, in double: its value and an elementwise magnitude
/// bound (|A| for explicit matrices, |A||B| for products, |A| + |B| for sums) that scales the
/// round-off tolerance: |computed − exact| ≤ tol · (magnitude · |X|) entry by entry.
/// </summary>
public sealed record Ref(double[,] Value, double[,] Magnitude)
{
    public int Rows => Value.GetLength(0);
    public int Columns => Value.GetLength(1);

    public static Ref Exact(double[,] value) => new(value, Dense.Abs(value));

    public Ref T() => new(Dense.Transpose(Value), Dense.Transpose(Magnitude));
    public static Ref operator +(Ref a, Ref b) => new(Dense.Add(a.Value, b.Value, 1), Dense.Add(a.Magnitude, b.Magnitude, 1));
    public static Ref operator -(Ref a, Ref b) => new(Dense.Add(a.Value, b.Value, -1), Dense.Add(a.Magnitude, b.Magnitude, 1));
    public static Ref operator *(double alpha, Ref a) => new(Dense.Scale(a.Value, alpha), Dense.Scale(a.Magnitude, Math.Abs(alpha)));
    public static Ref operator *(Ref a, Ref b) => new(Dense.MatMul(a.Value, b.Value), Dense.MatMul(a.Magnitude, b.Magnitude));
}

/// <summary>Naive dense linear algebra in double: the test oracle.</summary>
public static class Dense
{
    public static double[,] MatMul(double[,] a, double[,] b)
    {
        int m = a.GetLength(0), k = a.GetLength(1), n = b.GetLength(1);
        if (b.GetLength(0) != k) throw new InvalidOperationException($"Test bug: [{m}, {k}] x [{b.GetLength(0)}, {n}].");
        var c = new double[m, n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int l = 0; l < k; l++) s += a[i, l] * b[l, j];
                c[i, j] = s;
            }
        return c;
    }

    public static double[,] Transpose(double[,] a)
    {
        var t = new double[a.GetLength(1), a.GetLength(0)];
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++) t[j, i] = a[i, j];
        return t;
    }

    public static double[,] Add(double[,] a, double[,] b, double beta)
    {
        var c = new double[a.GetLength(0), a.GetLength(1)];
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++) c[i, j] = a[i, j] + beta * b[i, j];
        return c;
    }

    public static double[,] Scale(double[,] a, double alpha) => Add(new double[a.GetLength(0), a.GetLength(1)], a, alpha);

    public static double[,] Abs(double[,] a)
    {
        var c = new double[a.GetLength(0), a.GetLength(1)];
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++) c[i, j] = Math.Abs(a[i, j]);
        return c;
    }

    public static double[,] Identity(int n)
    {
        var c = new double[n, n];
        for (int i = 0; i < n; i++) c[i, i] = 1;
        return c;
    }

    public static double[,] Diagonal(double[] d)
    {
        var c = new double[d.Length, d.Length];
        for (int i = 0; i < d.Length; i++) c[i, i] = d[i];
        return c;
    }

    /// <summary>The Kronecker product, K[a·r + b, i·s + j] = A[a, i] B[b, j] (np.kron).</summary>
    public static double[,] Kron(double[,] a, double[,] b)
    {
        int p = a.GetLength(0), q = a.GetLength(1), r = b.GetLength(0), s = b.GetLength(1);
        var k = new double[p * r, q * s];
        for (int ia = 0; ia < p; ia++)
            for (int ib = 0; ib < r; ib++)
                for (int ja = 0; ja < q; ja++)
                    for (int jb = 0; jb < s; jb++)
                        k[ia * r + ib, ja * s + jb] = a[ia, ja] * b[ib, jb];
        return k;
    }

    public static double[,] BlockDiagonal(params double[][,] blocks)
    {
        var d = new double[blocks.Sum(b => b.GetLength(0)), blocks.Sum(b => b.GetLength(1))];
        int r0 = 0, c0 = 0;
        foreach (var b in blocks)
        {
            for (int i = 0; i < b.GetLength(0); i++)
                for (int j = 0; j < b.GetLength(1); j++) d[r0 + i, c0 + j] = b[i, j];
            r0 += b.GetLength(0); c0 += b.GetLength(1);
        }
        return d;
    }

    /// <summary>Rows and columns picked by index lists.</summary>
    public static double[,] Select(double[,] a, int[] rows, int[] cols)
    {
        var c = new double[rows.Length, cols.Length];
        for (int i = 0; i < rows.Length; i++)
            for (int j = 0; j < cols.Length; j++) c[i, j] = a[rows[i], cols[j]];
        return c;
    }

    /// <summary>The flat indices of some blocks of a space, in the order of the block list.</summary>
    public static int[] Indices(Space space, int[] blocks)
        => [.. blocks.SelectMany(b => Enumerable.Range(space.Offsets[b], space.Sizes[b]))];

    /// <summary>log|det| by Gaussian elimination with complete pivoting (independent of the library's partial pivoting).</summary>
    public static (int Sign, double LogAbs) SignLogDet(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = (double[,])matrix.Clone();
        int sign = 1;
        double log = 0;
        for (int k = 0; k < n; k++)
        {
            int pi = k, pj = k;
            for (int i = k; i < n; i++)
                for (int j = k; j < n; j++)
                    if (Math.Abs(a[i, j]) > Math.Abs(a[pi, pj])) { pi = i; pj = j; }
            if (a[pi, pj] == 0) return (0, double.NegativeInfinity);
            if (pi != k) { sign = -sign; for (int j = 0; j < n; j++) (a[k, j], a[pi, j]) = (a[pi, j], a[k, j]); }
            if (pj != k) { sign = -sign; for (int i = 0; i < n; i++) (a[i, k], a[i, pj]) = (a[i, pj], a[i, k]); }
            if (a[k, k] < 0) sign = -sign;
            log += Math.Log(Math.Abs(a[k, k]));
            for (int i = k + 1; i < n; i++)
            {
                double f = a[i, k] / a[k, k];
                for (int j = k; j < n; j++) a[i, j] -= f * a[k, j];
            }
        }
        return (sign, log);
    }

    /// <summary>True when a + shift·I has a Cholesky factorisation (so a ⪰ −shift·I).</summary>
    public static bool CholeskySucceeds(double[,] a, double shift)
    {
        int n = a.GetLength(0);
        var l = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            double d = a[j, j] + shift;
            for (int k = 0; k < j; k++) d -= l[j, k] * l[j, k];
            if (!(d > 0)) return false;
            l[j, j] = Math.Sqrt(d);
            for (int i = j + 1; i < n; i++)
            {
                double s = a[i, j];
                for (int k = 0; k < j; k++) s -= l[i, k] * l[j, k];
                l[i, j] = s / l[j, j];
            }
        }
        return true;
    }

    public static double MaxAbs(double[,] a)
    {
        double m = 0;
        foreach (var v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }

    // ------------------------------------------------------------------ conversions

    public static double[,] FromTensor<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(2, t.Rank);
        int m = t.Shape[0], n = t.Shape[1];
        var a = new double[m, n];
        var s = t.Span;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) a[i, j] = double.CreateTruncating(s[i * n + j]);
        return a;
    }

    public static Tensor<T> ToTensor<T>(double[,] a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = a.GetLength(0), n = a.GetLength(1);
        var t = Tensor<T>.Zeros(m, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) t.Span[i * n + j] = T.CreateTruncating(a[i, j]);
        return t;
    }

    /// <summary>A uniform [lo, hi) matrix as a tensor of T, and the same T-rounded values in double.</summary>
    public static (Tensor<T> Tensor, double[,] Values) Random<T>(Random rng, int rows, int cols, double lo = -1, double hi = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) a[i, j] = lo + (hi - lo) * rng.NextDouble();
        return Rounded<T>(a);
    }

    /// <summary>Rounds a double matrix to T and returns the tensor with the rounded values in double.</summary>
    public static (Tensor<T> Tensor, double[,] Values) Rounded<T>(double[,] a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = ToTensor<T>(a);
        return (t, FromTensor(t));
    }

    // ------------------------------------------------------------------ assertions

    /// <summary>Round-off tolerance of T: 1e-12 for double, 1e-4 for float.</summary>
    public static double Tolerance<T>() => typeof(T) == typeof(float) ? 1e-4 : 1e-12;

    /// <summary>
    /// Asserts |actual − expected| ≤ tol · bound + tiny entry by entry, where bound is the magnitude
    /// of the computation (entries with a zero bound must match exactly).
    /// </summary>
    public static void AssertClose(double[,] expected, double[,] bound, double[,] actual, double tol, string what)
    {
        Assert.True(expected.GetLength(0) == actual.GetLength(0) && expected.GetLength(1) == actual.GetLength(1),
            $"{what}: expected a [{expected.GetLength(0)}, {expected.GetLength(1)}] result but got [{actual.GetLength(0)}, {actual.GetLength(1)}].");
        for (int i = 0; i < expected.GetLength(0); i++)
            for (int j = 0; j < expected.GetLength(1); j++)
            {
                double err = Math.Abs(actual[i, j] - expected[i, j]);
                double allowed = tol * bound[i, j] + 1e-300;
                if (!(err <= allowed))
                    throw new XunitException(
                        $"{what}: entry [{i}, {j}] is {actual[i, j]:R} but the reference is {expected[i, j]:R} " +
                        $"(error {err:E3} > allowed {allowed:E3} = {tol:E0} x magnitude {bound[i, j]:E3}).");
            }
    }
}
