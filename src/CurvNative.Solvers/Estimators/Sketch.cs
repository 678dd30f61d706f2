using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;

namespace CurvNative.Solvers.Estimators;

/// <summary>
/// Shared plumbing of the randomized estimators: validated products with seeded probe blocks, in
/// batches of columns, and the exact computation with identity columns when the budget equals n.
/// </summary>
internal static class Sketch
{
    /// <summary>Y = A Ω for a double [n, k] block, in MatMats of at most about 2^24 elements.</summary>
    public static double[] Apply<T>(LinearOperator<T> op, double[] x, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = op.Columns, rows = op.Rows;
        int chunk = DenseKernels.ChunkColumns(Math.Max(n, rows), k);
        if (chunk >= k) return Dense.Apply(op, x, k);
        var y = new double[rows * k];
        for (int c0 = 0; c0 < k; c0 += chunk)
        {
            int m = Math.Min(chunk, k - c0);
            var part = new double[n * m];
            for (int i = 0; i < n; i++) Array.Copy(x, i * k + c0, part, i * m, m);
            var yp = Dense.Apply(op, part, m);
            for (int i = 0; i < rows; i++) Array.Copy(yp, i * m, y, i * k + c0, m);
        }
        return y;
    }

    /// <summary>Calls <paramref name="visit"/>(j0, E, A E) for identity columns E = [e_j0 … e_j0+k−1] covering all n columns.</summary>
    public static void ForIdentityColumns<T>(LinearOperator<T> op, Action<int, int, double[]> visit) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = op.Columns;
        int chunk = DenseKernels.ChunkColumns(Math.Max(n, op.Rows), n);
        for (int j0 = 0; j0 < n; j0 += chunk)
        {
            int k = Math.Min(chunk, n - j0);
            visit(j0, k, Dense.Apply(op, DenseKernels.IdentityColumns(n, j0, k), k));
        }
    }

    /// <summary>Mean and standard error of the mean (NaN for fewer than two samples).</summary>
    public static (double Mean, double StandardError) MeanAndError(ReadOnlySpan<double> samples)
    {
        int m = samples.Length;
        double mean = 0;
        foreach (var s in samples) mean += s;
        mean /= m;
        if (m < 2) return (mean, double.NaN);
        double v = 0;
        foreach (var s in samples) v += (s - mean) * (s - mean);
        return (mean, Math.Sqrt(v / (m - 1) / m));
    }

    /// <summary>Σ_i a[i, c] b[i, c] for each column c of two [n, k] blocks.</summary>
    public static double[] ColumnDots(double[] a, double[] b, int n, int k)
    {
        var r = new double[k];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < k; c++) r[c] += a[i * k + c] * b[i * k + c];
        return r;
    }
}
