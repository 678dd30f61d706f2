using System.Numerics;
using CurvNative.Operators;

namespace CurvNative.Solvers.Internal;

/// <summary>
/// K vectors of length n held as one double [n, K] row-major array (column c of row i at i·K + c),
/// with per-column operations restricted to a set of active columns. Used by the batched Krylov
/// solvers, which advance K independent recurrences in lockstep and multiply only the active
/// columns by the operator.
/// </summary>
internal static class Block
{
    /// <summary>result[c] = Σ_i a[i, c] b[i, c] for the active columns (others untouched).</summary>
    public static void Dots(double[] a, double[] b, int n, int k, bool[] active, double[] result)
    {
        for (int c = 0; c < k; c++) if (active[c]) result[c] = 0;
        for (int i = 0; i < n; i++)
        {
            int o = i * k;
            for (int c = 0; c < k; c++)
                if (active[c]) result[c] += a[o + c] * b[o + c];
        }
    }

    /// <summary>y[:, c] += α[c] x[:, c] for the active columns.</summary>
    public static void Axpy(double[] alpha, double[] x, double[] y, int n, int k, bool[] active)
    {
        for (int i = 0; i < n; i++)
        {
            int o = i * k;
            for (int c = 0; c < k; c++)
                if (active[c]) y[o + c] += alpha[c] * x[o + c];
        }
    }

    /// <summary>y[:, c] = x[:, c] + β[c] y[:, c] for the active columns.</summary>
    public static void Xpby(double[] x, double[] beta, double[] y, int n, int k, bool[] active)
    {
        for (int i = 0; i < n; i++)
        {
            int o = i * k;
            for (int c = 0; c < k; c++)
                if (active[c]) y[o + c] = x[o + c] + beta[c] * y[o + c];
        }
    }

    /// <summary>dst[:, c] = src[:, c] for the active columns.</summary>
    public static void Copy(double[] src, double[] dst, int n, int k, bool[] active)
    {
        for (int i = 0; i < n; i++)
        {
            int o = i * k;
            for (int c = 0; c < k; c++)
                if (active[c]) dst[o + c] = src[o + c];
        }
    }

    /// <summary>dst[:, c] = 0 for the active columns.</summary>
    public static void Clear(double[] dst, int n, int k, bool[] active)
    {
        for (int i = 0; i < n; i++)
        {
            int o = i * k;
            for (int c = 0; c < k; c++)
                if (active[c]) dst[o + c] = 0;
        }
    }

    /// <summary>Indices of the set entries of a mask.</summary>
    public static int[] Indices(bool[] mask)
    {
        var list = new List<int>();
        for (int c = 0; c < mask.Length; c++) if (mask[c]) list.Add(c);
        return [.. list];
    }

    /// <summary>
    /// dst[:, c] = (A + λ I) x[:, c] for the columns in <paramref name="cols"/> by one MatMat on the
    /// gathered columns (converted to T); other columns of dst are untouched. Returns the number of
    /// vectors multiplied.
    /// </summary>
    public static int Apply<T>(LinearOperator<T> a, double damping, double[] x, int n, int k, int[] cols, double[] dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = cols.Length;
        if (m == 0) return 0;
        var g = Gather(x, n, k, cols);
        var y = Dense.Apply(a, g, m);
        if (damping != 0)
            for (int i = 0; i < y.Length; i++) y[i] += damping * g[i];
        Scatter(y, n, k, cols, dst);
        return m;
    }

    /// <summary>Columns <paramref name="cols"/> of an [n, k] block as a new [n, cols.Length] block.</summary>
    public static double[] Gather(double[] x, int n, int k, int[] cols)
    {
        int m = cols.Length;
        var g = new double[n * m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) g[i * m + j] = x[i * k + cols[j]];
        return g;
    }

    /// <summary>Writes an [n, cols.Length] block into columns <paramref name="cols"/> of an [n, k] block.</summary>
    public static void Scatter(double[] g, int n, int k, int[] cols, double[] x)
    {
        int m = cols.Length;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) x[i * k + cols[j]] = g[i * m + j];
    }
}
