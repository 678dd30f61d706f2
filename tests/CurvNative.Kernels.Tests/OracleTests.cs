using CurvNative.Kernels;
using Xunit;

namespace CurvNative.Kernels.Tests;

/// <summary>The managed oracle against independent dense float64 computations.</summary>
public class OracleTests
{
    private static readonly ManagedKernelBackend M = new();

    [Fact]
    public void Kronecker_matches_the_explicit_Kronecker_product()
    {
        int gd = 3, ad = 4;
        var g = Contract.Random<double>(gd * gd, 1); var a = Contract.Random<double>(ad * ad, 2); var v = Contract.Random<double>(gd * ad, 3);
        var y = new double[gd * ad];
        using (var bg = M.Upload<double>(g)) using (var ba = M.Upload<double>(a)) M.KroneckerMatmat(gd, ad, 1, bg, false, ba, false, v, y);
        for (int i = 0; i < gd; i++) for (int p = 0; p < ad; p++)
        {
            double s = 0;
            for (int j = 0; j < gd; j++) for (int q = 0; q < ad; q++) s += g[i * gd + j] * a[p * ad + q] * v[j * ad + q];
            Assert.Equal(s, y[i * ad + p], 12);
        }
    }

    [Fact]
    public void Woodbury_solves_the_damped_normal_equations()
    {
        int n = 4, p = 9; double lambda = 0.3;
        var j = Contract.Random<double>(n * p, 4); var g = Contract.Random<double>(p, 5);
        var x = new double[p];
        using (var bj = M.Upload<double>(j)) Assert.Equal(0, M.WoodburySolve(n, p, bj, lambda, g, x));
        // residual of (lambda I + J^T J) x = g
        for (int i = 0; i < p; i++)
        {
            double r = lambda * x[i];
            for (int q = 0; q < p; q++) { double jtj = 0; for (int k = 0; k < n; k++) jtj += j[k * p + i] * j[k * p + q]; r += jtj * x[q]; }
            Assert.Equal(g[i], r, 10);
        }
    }

    [Fact]
    public void Woodbury_reports_a_kernel_that_is_not_positive_definite()
    {
        var j = new[] { double.NaN, 1.0 };
        var x = new double[2];
        using var bj = M.Upload<double>(j);
        Assert.Equal(1, M.WoodburySolve(1, 2, bj, 0.1, new[] { 1.0, 1.0 }, x));
    }

    [Fact]
    public void Forward_Laplacian_matches_finite_differences()
    {
        int[] widths = [3, 5, 2];
        var acts = new[] { TaylorActivation.Tanh, TaylorActivation.Identity };
        var w = new[] { Contract.Random<double>(15, 6), Contract.Random<double>(10, 7) };
        var b = new[] { Contract.Random<double>(5, 8), Contract.Random<double>(2, 9) };
        var x = Contract.Random<double>(3, 10);
        var v = new double[2]; var l = new double[2];
        using var net = new TaylorNetwork<double>(M, widths, w, b, acts);
        M.ForwardLaplacian(net, 1, x, v, l);
        double[] F(double[] z)
        {
            var h = new double[5];
            for (int i = 0; i < 5; i++) { double s = b[0][i]; for (int k = 0; k < 3; k++) s += w[0][i * 3 + k] * z[k]; h[i] = Math.Tanh(s); }
            var o = new double[2];
            for (int i = 0; i < 2; i++) { double s = b[1][i]; for (int k = 0; k < 5; k++) s += w[1][i * 5 + k] * h[k]; o[i] = s; }
            return o;
        }
        var f0 = F(x);
        Assert.Equal(f0[0], v[0], 12);
        double eps = 1e-4;
        for (int o = 0; o < 2; o++)
        {
            double lap = 0;
            for (int d = 0; d < 3; d++)
            {
                var xp = (double[])x.Clone(); xp[d] += eps; var xm = (double[])x.Clone(); xm[d] -= eps;
                lap += (F(xp)[o] - 2 * f0[o] + F(xm)[o]) / (eps * eps);
            }
            Assert.Equal(lap, l[o], 5);
        }
    }

    [Fact]
    public void Bad_input_names_what_was_expected()
    {
        var e = Assert.Throws<ArgumentException>(() => M.Gemm<double>(false, false, 2, 2, 2, 1, new double[3], new double[4], 0, new double[4]));
        Assert.Contains("expected at least 4", e.Message);
    }
}
