using CurvNative.Solvers.Eigen;
using CurvNative.Solvers.Estimators;
using Xunit;
using Xunit.Abstractions;
using static CurvNative.Tests.Solvers.TestMatrices;

namespace CurvNative.Tests.Solvers;

/// <summary>Stochastic Lanczos quadrature against exact broadened densities and exact quadrature identities.</summary>
public class SpectralDensityTests(ITestOutputHelper output)
{
    private static double Trapezoid(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double s = 0;
        for (int i = 1; i < x.Count; i++) s += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
        return s;
    }

    [Fact]
    public void DensityIntegratesToOneAndMatchesTheExactBroadenedDensity()
    {
        int n = 400;
        var rng = new Random(3);
        // Two bumps and a few outliers, like a Hessian bulk with a top spectrum.
        var l = Enumerable.Range(0, n).Select(i => i < 10 ? 8 + i : (i % 2 == 0 ? 0.5 * rng.NextDouble() : 2 + rng.NextDouble())).ToArray();
        var m = SpectralMatrix.Create(l, seed: 4);
        var grid = SpectralDensity.LinearGrid(-2, 20, 2000);
        double sigma = 0.2;
        var r = SpectralDensity.Slq(m.Operator(), probes: 20, lanczosSteps: 60, grid, sigma, seed: 5);
        var exact = grid.Select(t => l.Sum(x => Math.Exp(-0.5 * (t - x) * (t - x) / (sigma * sigma))) / (n * sigma * Math.Sqrt(2 * Math.PI))).ToArray();
        double integral = Trapezoid(r.Grid, r.Density);
        double l1 = Trapezoid(r.Grid, [.. r.Density.Select((d, i) => Math.Abs(d - exact[i]))]);
        output.WriteLine($"∫ density = {integral:F6}, L1 distance to the exact broadened density = {l1:F4}, {r.MatVecs} products");
        Assert.True(Math.Abs(integral - 1) < 1e-6, $"integral {integral}");
        Assert.True(l1 < 0.05, $"L1 distance {l1}");
        Assert.Equal(20 * 60, r.MatVecs);
        foreach (var w in r.Weights) Assert.True(Math.Abs(w.Sum() - 1) < 1e-12);
    }

    [Fact]
    public void FullLanczosNodesAreTheEigenvaluesOfARealHessian()
    {
        var (h, hd, n) = Hessian("mlp", "ce");
        var eig = Eigenvalues(hd, n);
        double scale = eig.Max(Math.Abs);
        var r = SpectralDensity.Slq(h, probes: 2, lanczosSteps: n, SpectralDensity.LinearGrid(-1, 1, 11), sigma: 0.1, seed: 1);
        foreach (var nodes in r.Nodes)
            foreach (var node in nodes)
                Assert.True(eig.Min(e => Math.Abs(e - node)) <= 1e-9 * scale, $"node {node:R} is not an eigenvalue of the dense Hessian");
    }

    [Fact]
    public void QuadratureOfTheIdentityFunctionEqualsHutchinsonWithTheSameProbes()
    {
        // vᵀ A v = Σ_j τ_j θ_j exactly for any number of Lanczos steps (e₁ᵀ T e₁ = α₁), so n·mean equals
        // Hutchinson with the same Rademacher probes; f(x) = x² needs two steps (e₁ᵀ T² e₁ = α₁² + β₁²).
        var m = SpectralMatrix.Create(Indefinite(50, 2), seed: 6);
        var r = SpectralDensity.Slq(m.Operator(), probes: 7, lanczosSteps: 3, [0.0], sigma: 1, seed: 11);
        var hutch = TraceEstimators.Hutchinson(m.Operator(), 7, ProbeDistribution.Rademacher, seed: 11);
        AssertClose(hutch.Estimate, r.SpectralSum(x => x), 1e-12, "SLQ trace vs Hutchinson");
        var frob = FrobeniusNormEstimators.Hutchinson(m.Operator(), 7, ProbeDistribution.Rademacher, seed: 11);
        AssertClose(frob.Estimate, r.SpectralSum(x => x * x), 1e-12, "SLQ tr(A²) vs Hutchinson ‖A‖_F²");
    }

    [Fact]
    public void LogSpectrumOfPsdOperatorIntegratesToOneAndFindsTheClusters()
    {
        // PSD spectrum over eight orders of magnitude: half the eigenvalues near 1e-6, a quarter near 1e-2, a quarter near 10.
        int n = 200;
        var rng = new Random(2);
        var l = Enumerable.Range(0, n).Select(i => (i % 4 < 2 ? 1e-6 : i % 4 == 2 ? 1e-2 : 10) * (1 + 0.1 * rng.NextDouble())).ToArray();
        var m = SpectralMatrix.Create(l, seed: 3);
        var grid = SpectralDensity.LogGrid(1e-9, 1e3, 3000);
        var r = SpectralDensity.SlqLog(m.Operator(), probes: 10, lanczosSteps: 40, grid, sigma: 0.3, epsilon: 0, seed: 4);
        double integral = Trapezoid(r.Grid, r.Density);
        Assert.True(Math.Abs(integral - 1) < 1e-3, $"∫ density dλ = {integral}");
        // Mass per decade band (in log space): about 1/2, 1/4 and 1/4.
        double Mass(double lo, double hi)
        {
            var idx = Enumerable.Range(0, grid.Length).Where(i => grid[i] >= lo && grid[i] <= hi).ToArray();
            return Trapezoid([.. idx.Select(i => grid[i])], [.. idx.Select(i => r.Density[i])]);
        }
        double m1 = Mass(1e-8, 1e-4), m2 = Mass(1e-4, 1), m3 = Mass(1, 1e3);
        output.WriteLine($"log-spectrum masses: {m1:F3} {m2:F3} {m3:F3}, ∫ = {integral:F5}");
        Assert.True(Math.Abs(m1 - 0.5) < 0.08 && Math.Abs(m2 - 0.25) < 0.08 && Math.Abs(m3 - 0.25) < 0.08, $"masses {m1} {m2} {m3}");
    }

    [Fact]
    public void BadArgumentsGiveClearErrors()
    {
        var m = SpectralMatrix.Create(Geometric(10, 1), seed: 1);
        var grid = SpectralDensity.LinearGrid(0, 1, 5);
        var steps = Assert.Throws<ArgumentOutOfRangeException>(() => SpectralDensity.Slq(m.Operator(), 2, 11, grid, 0.1));
        Assert.Contains("n = 10", steps.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralDensity.Slq(m.Operator(), 0, 5, grid, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralDensity.Slq(m.Operator(), 1, 5, grid, 0));
        Assert.Throws<ArgumentException>(() => SpectralDensity.SlqLog(m.Operator(), 1, 5, [0.0, 1.0], 0.1));
        Assert.Throws<ArgumentException>(() => SpectralDensity.Slq(m.Operator(flagSymmetric: false), 1, 5, grid, 0.1));
        Assert.Throws<ArgumentException>(() => SpectralDensity.LogGrid(0, 1, 3));
    }
}
