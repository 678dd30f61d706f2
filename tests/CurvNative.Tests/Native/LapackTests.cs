using CurvNative.Native;
using Xunit;

namespace CurvNative.Tests.Native;

public class LapackTests
{
    [Fact]
    public void Syevd_2x2_f64()
    {
        double[] a = [2, 1,
                      1, 2];
        var w = new double[2];
        Lapack.SymmetricEigen<double>(2, a, w);
        Assert.Equal(1.0, w[0], 12);
        Assert.Equal(3.0, w[1], 12);
        double s = Math.Sqrt(0.5);
        // Row i is the eigenvector of w[i], up to sign.
        Assert.Equal(s, Math.Abs(a[0]), 12);
        Assert.Equal(-1.0, Math.Sign(a[0]) * Math.Sign(a[1]));
        Assert.Equal(s, Math.Abs(a[2]), 12);
        Assert.Equal(1.0, Math.Sign(a[2]) * Math.Sign(a[3]));
    }

    [Fact]
    public void Syevd_tridiagonal_known_eigenvalues_and_reconstruction_f64()
    {
        double[] m = [2, -1, 0,
                      -1, 2, -1,
                      0, -1, 2];
        var a = (double[])m.Clone();
        var w = new double[3];
        Lapack.SymmetricEigen<double>(3, a, w);
        Assert.Equal(2 - Math.Sqrt(2), w[0], 12);
        Assert.Equal(2.0, w[1], 12);
        Assert.Equal(2 + Math.Sqrt(2), w[2], 12);
        AssertReconstructs(m, a, w, 3, 1e-12);
    }

    [Fact]
    public void Syevd_reads_only_the_upper_triangle_f32()
    {
        float[] m = [4, 1, 2,
                     1, 5, 3,
                     2, 3, 6];
        float[] a = [4, 1, 2,
                     99, 5, 3,
                     -42, 77, 6]; // garbage below the diagonal
        var w = new float[3];
        Lapack.SymmetricEigen<float>(3, a, w);
        Assert.True(w[0] <= w[1] && w[1] <= w[2]);
        Assert.Equal(15.0, w[0] + w[1] + w[2], 4); // trace
        AssertReconstructs(m.Select(v => (double)v).ToArray(), a.Select(v => (double)v).ToArray(),
            w.Select(v => (double)v).ToArray(), 3, 1e-5);
    }

    [Fact]
    public void Syevd_without_vectors_and_empty()
    {
        double[] a = [3, 0, 0, 1];
        var w = new double[2];
        Lapack.SymmetricEigen<double>(2, a, w, computeVectors: false);
        Assert.Equal(new double[] { 1, 3 }, w);
        Lapack.SymmetricEigen<double>(0, Span<double>.Empty, Span<double>.Empty);
    }

    [Fact]
    public void Syevd_larger_random_matrix_f64()
    {
        const int n = 40;
        var rng = new Random(5);
        var m = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                m[i * n + j] = m[j * n + i] = rng.NextDouble() - 0.5;
        var a = (double[])m.Clone();
        var w = new double[n];
        Lapack.SymmetricEigen<double>(n, a, w);
        AssertReconstructs(m, a, w, n, 1e-12);
    }

    private static void AssertReconstructs(double[] m, double[] v, double[] w, int n, double tol)
    {
        // rows of v are orthonormal eigenvectors: sum_k w_k v_k v_k^T == m
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, dot = 0;
                for (int k = 0; k < n; k++)
                {
                    s += w[k] * v[k * n + i] * v[k * n + j];
                    dot += v[i * n + k] * v[j * n + k];
                }
                Assert.True(Math.Abs(s - m[i * n + j]) <= tol * n, $"reconstruction ({i},{j}): {s} vs {m[i * n + j]}");
                Assert.True(Math.Abs(dot - (i == j ? 1 : 0)) <= tol * n, $"orthonormality ({i},{j}): {dot}");
            }
    }

    [Fact]
    public void Potrf_classic_example_writes_L_in_the_lower_triangle_f64()
    {
        double[] a = [4, 12, -16,
                      12, 37, -43,
                      -16, -43, 98];
        a[1] = 1000; a[2] = 2000; a[5] = 3000; // upper triangle: not read, left untouched
        Lapack.Cholesky<double>(3, a);
        double[] expected = [2, 1000, 2000,
                             6, 1, 3000,
                             -8, 5, 3];
        for (int i = 0; i < 9; i++) Assert.Equal(expected[i], a[i], 12);
    }

    [Fact]
    public void Potrf_f32_and_not_positive_definite()
    {
        float[] a = [4, 2, 2, 3];
        Lapack.Cholesky<float>(2, a);
        Assert.Equal(2f, a[0], 5);
        Assert.Equal(1f, a[2], 5);
        Assert.Equal(MathF.Sqrt(2), a[3], 5);

        double[] bad = [1, 2, 2, 1];
        Assert.Equal(2, Lapack.TryCholesky<double>(2, (double[])bad.Clone()));
        var e = Assert.Throws<LapackException>(() => Lapack.Cholesky<double>(2, bad));
        Assert.Equal(2, e.Info);
        Assert.Contains("not positive definite", e.Message);
    }

    [Fact]
    public void Potrs_solves_with_one_and_several_right_hand_sides()
    {
        double[] m = [4, 12, -16,
                      12, 37, -43,
                      -16, -43, 98];
        var l = (double[])m.Clone();
        Lapack.Cholesky<double>(3, l);

        double[] x1 = [1, -2, 3];
        var b1 = MatMul(m, x1, 3, 1);
        Lapack.CholeskySolve<double>(3, 1, l, b1);
        for (int i = 0; i < 3; i++) Assert.Equal(x1[i], b1[i], 9);

        double[] x2 = [1, 10,
                       -2, 20,
                       3, -30]; // row-major 3 x 2
        var b2 = MatMul(m, x2, 3, 2);
        Lapack.CholeskySolve<double>(3, 2, l, b2);
        for (int i = 0; i < 6; i++) Assert.Equal(x2[i], b2[i], 9);

        float[] lf = m.Select(v => (float)v).ToArray();
        Lapack.Cholesky<float>(3, lf);
        float[] bf = MatMul(m, x2, 3, 2).Select(v => (float)v).ToArray();
        Lapack.CholeskySolve<float>(3, 2, lf, bf);
        for (int i = 0; i < 6; i++) Assert.Equal(x2[i], bf[i], 2);
    }

    [Fact]
    public void Lapack_wrappers_check_lengths()
    {
        var e = Assert.Throws<ArgumentException>(() => Lapack.Cholesky<double>(3, new double[8]));
        Assert.Contains("expected a of length n*n = 9 but got 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => Lapack.SymmetricEigen<double>(2, new double[4], new double[3]));
        Assert.Contains("expected eigenvalues of length n = 2 but got 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => Lapack.CholeskySolve<double>(2, 2, new double[4], new double[3]));
        Assert.Contains("expected b of length n*nrhs = 4 but got 3", e.Message);
    }

    private static double[] MatMul(double[] a, double[] x, int n, int k)
    {
        var r = new double[n * k];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++)
                for (int t = 0; t < n; t++)
                    r[i * k + j] += a[i * n + t] * x[t * k + j];
        return r;
    }

    /// <summary>Orders whose syevd workspace (1 + 6n + 2n^2 elements) crosses the 4 MB from which it is mapped with huge
    /// pages (float: n ~ 720; double: n ~ 510): the decomposition must still satisfy A v = lambda v and V^T V = I.</summary>
    [Theory]
    [InlineData(300, false)]
    [InlineData(800, false)]
    [InlineData(600, true)]
    public void SyevdWithMappedWorkspace(int n, bool inDouble)
    {
        var rng = new Random(n);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.NextDouble() - 0.5;
        double[] v, w;
        if (inDouble)
        {
            v = (double[])a.Clone(); w = new double[n];
            Lapack.SymmetricEigen<double>(n, v, w);
        }
        else
        {
            var vf = a.Select(x => (float)x).ToArray(); var wf = new float[n];
            Lapack.SymmetricEigen<float>(n, vf, wf);
            v = vf.Select(x => (double)x).ToArray(); w = wf.Select(x => (double)x).ToArray();
        }
        double tol = inDouble ? 1e-10 : 1e-3, worst = 0;
        for (int e = 0; e < n; e += 37) // row e of v is the eigenvector of w[e]
        {
            for (int i = 0; i < n; i++)
            {
                double av = 0;
                for (int t = 0; t < n; t++) av += a[i * n + t] * v[e * n + t];
                worst = Math.Max(worst, Math.Abs(av - w[e] * v[e * n + i]));
            }
            for (int f = 0; f < n; f += 53)
            {
                double dot = 0;
                for (int t = 0; t < n; t++) dot += v[e * n + t] * v[f * n + t];
                worst = Math.Max(worst, Math.Abs(dot - (e == f ? 1 : 0)));
            }
        }
        Assert.True(worst < tol, $"n = {n}: residual {worst:E2} over tolerance {tol:E0}.");
    }
}
