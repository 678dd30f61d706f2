using CurvNative.Operators;
using CurvNative.Solvers.Estimators;
using CurvNative.Tensors;
using Xunit;
using Xunit.Abstractions;
using static CurvNative.Tests.Solvers.TestMatrices;

namespace CurvNative.Tests.Solvers;

/// <summary>Trace, diagonal and Frobenius estimators: exact regimes, unbiasedness and variance, convergence rates.</summary>
public class EstimatorTests(ITestOutputHelper output)
{
    private static DenseOperator<double> NonSymmetric(int n, int seed)
        => new(Tensor<double>.FromArray(GaussianMatrix(n, n, seed), n, n));

    [Fact]
    public void FullBudgetGivesExactValues()
    {
        int n = 30;
        var a = NonSymmetric(n, 1);
        var dense = a.ToDense().ToArray();
        double trace = Enumerable.Range(0, n).Sum(i => dense[i * n + i]);
        foreach (var e in new[] { TraceEstimators.Hutchinson(a, n), TraceEstimators.HutchPlusPlus(a, n), TraceEstimators.XTrace(a, n) })
        {
            Assert.True(e.IsExact && e.StandardError == 0 && e.MatVecs == n, e.ToString());
            AssertClose(trace, e.Estimate, 1e-12, e.Method);
        }
        var diag = Enumerable.Range(0, n).Select(i => dense[i * n + i]).ToArray();
        Assert.True(RelativeError(diag, DiagonalEstimators.Hutchinson(a, n).Diagonal.Span) < 1e-15);
        Assert.True(RelativeError(diag, DiagonalEstimators.XDiag(a, n).Diagonal.Span) < 1e-15);
        var rect = new DenseOperator<double>(Tensor<double>.FromArray(GaussianMatrix(7, n, 2), 7, n));
        double frob = rect.ToDense().ToArray().Sum(v => v * v);
        AssertClose(frob, FrobeniusNormEstimators.Hutchinson(rect, n).Estimate, 1e-12, "‖A‖_F²");

        // Real curvature: GGN trace and Hessian diagonal of an MLP with cross-entropy.
        var (g, gd, ng) = Ggn();
        AssertClose(Enumerable.Range(0, ng).Sum(i => gd[i * ng + i]), TraceEstimators.XTrace(g, ng).Estimate, 1e-10, "GGN trace");
        var (h, hd, nh) = Hessian();
        var hdiag = Enumerable.Range(0, nh).Select(i => hd[i * nh + i]).ToArray();
        Assert.True(RelativeError(hdiag, DiagonalEstimators.XDiag(h, nh).Diagonal.Span) < 1e-10);
    }

    [Theory]
    [InlineData(ProbeDistribution.Rademacher)]
    [InlineData(ProbeDistribution.Gaussian)]
    public void HutchinsonIsUnbiasedWithItsKnownVariance(ProbeDistribution distribution)
    {
        // Var[zᵀAz] = 2(‖A‖_F² − Σ a_ii²) for Rademacher, 2‖A‖_F² for Gaussian; the mean of m samples has 1/m of it.
        var m = SpectralMatrix.Create(Indefinite(100, 1), seed: 2);
        int matVecs = 10, seeds = 400;
        double frob = m.FrobeniusSquared, diag2 = m.Diagonal.Sum(d => d * d);
        double variance = (distribution == ProbeDistribution.Rademacher ? 2 * (frob - diag2) : 2 * frob) / matVecs;
        var est = Enumerable.Range(0, seeds).Select(s => TraceEstimators.Hutchinson(m.Operator(), matVecs, distribution, s)).ToArray();
        double mean = est.Average(e => e.Estimate);
        double empirical = est.Sum(e => (e.Estimate - mean) * (e.Estimate - mean)) / (seeds - 1);
        double reported = est.Average(e => e.StandardError * e.StandardError);
        output.WriteLine($"{distribution}: trace {m.Trace:F3}, mean {mean:F3}, variance theory {variance:F3}, empirical {empirical:F3}, mean reported SE² {reported:F3}");
        Assert.True(Math.Abs(mean - m.Trace) < 4 * Math.Sqrt(variance / seeds), $"mean {mean} vs trace {m.Trace}");
        Assert.InRange(empirical / variance, 0.75, 1.3);
        Assert.InRange(reported / variance, 0.75, 1.3);

        // The squared Frobenius norm estimator is unbiased too.
        var fro = Enumerable.Range(0, 200).Select(s => FrobeniusNormEstimators.Hutchinson(m.Operator(), matVecs, distribution, s).Estimate).ToArray();
        double fmean = fro.Average(), fsd = Math.Sqrt(fro.Sum(f => (f - fmean) * (f - fmean)) / 199);
        Assert.True(Math.Abs(fmean - frob) < 4 * fsd / Math.Sqrt(200), $"‖A‖_F² mean {fmean} vs {frob}");
    }

    [Fact]
    public void HutchPlusPlusErrorDecaysFasterThanHutchinsonOnFastDecay()
    {
        // λ_i = i^{-1.5}: the deflated tail after k = m/3 directions has ‖A − A_k‖_F ~ k^{-1}, so the Hutch++ error
        // falls like m^{-1.5}; Hutchinson falls like m^{-1/2}. Mean relative errors over 40 seeds at m and 4m.
        var m = SpectralMatrix.Create(PowerDecay(400, 1.5), seed: 3);
        var op = m.Operator();
        int seeds = 40;
        double Err(Func<int, int, double> estimate, int matVecs)
            => Enumerable.Range(0, seeds).Average(s => Math.Abs(estimate(matVecs, 1000 + s) - m.Trace)) / m.Trace;
        var budgets = new[] { 24, 48, 96, 192 };
        var table = new Dictionary<string, double[]>
        {
            ["Hutchinson"] = [.. budgets.Select(b => Err((k, s) => TraceEstimators.Hutchinson(op, k, seed: s).Estimate, b))],
            ["Hutch++"] = [.. budgets.Select(b => Err((k, s) => TraceEstimators.HutchPlusPlus(op, k, seed: s).Estimate, b))],
            ["XTrace"] = [.. budgets.Select(b => Err((k, s) => TraceEstimators.XTrace(op, k, seed: s).Estimate, b))],
        };
        output.WriteLine($"mean relative trace error, λ_i = i^-1.5, n = 400, {seeds} seeds; m = {string.Join(", ", budgets)}");
        foreach (var (name, errs) in table) output.WriteLine($"{name,-11} {string.Join("  ", errs.Select(e => e.ToString("E2")))}   ratio m→4m: {errs[0] / errs[2]:F1}, {errs[1] / errs[3]:F1}");
        double hutch = table["Hutchinson"][0] / table["Hutchinson"][2];
        double hpp = table["Hutch++"][0] / table["Hutch++"][2];
        double xt = table["XTrace"][0] / table["XTrace"][2];
        Assert.InRange(hutch, 1.3, 3.0);           // ≈ 2 = √4
        Assert.True(hpp >= 4, $"Hutch++ error ratio m→4m is {hpp:F2}; at least 4 (the 1/m rate) expected, Hutchinson gives ≈ 2");
        Assert.True(xt >= 4, $"XTrace error ratio m→4m is {xt:F2}");
        for (int j = 0; j < budgets.Length; j++)
        {
            Assert.True(table["Hutch++"][j] < table["Hutchinson"][j], $"m = {budgets[j]}: Hutch++ should beat Hutchinson");
            Assert.True(table["XTrace"][j] < table["Hutch++"][j], $"m = {budgets[j]}: XTrace should beat Hutch++");
        }
    }

    [Fact]
    public void XTraceErrorEstimateTracksTheActualError()
    {
        var m = SpectralMatrix.Create(PowerDecay(300, 1), seed: 4);
        var est = Enumerable.Range(0, 60).Select(s => TraceEstimators.XTrace(m.Operator(), 40, seed: s)).ToArray();
        double rms = Math.Sqrt(est.Average(e => (e.Estimate - m.Trace) * (e.Estimate - m.Trace)));
        double se = Math.Sqrt(est.Average(e => e.StandardError * e.StandardError));
        output.WriteLine($"XTrace m = 40: RMS error {rms:E2}, RMS reported standard error {se:E2}");
        Assert.InRange(se / rms, 1.0 / 3, 3);
    }

    [Fact]
    public void LowRankOperatorsAreCapturedExactly()
    {
        // rank 5: any 6 probes span the range, so Hutch++ (6 sketch probes), XTrace and XDiag (leave-one-out bases of ≥ 6) are exact.
        int n = 200, r = 5;
        var l = new double[n];
        for (int i = 0; i < r; i++) l[i] = 1 + i;
        var m = SpectralMatrix.Create(l, seed: 5);
        AssertClose(m.Trace, TraceEstimators.HutchPlusPlus(m.Operator(), 18, seed: 1).Estimate, 1e-10, "Hutch++");
        var xt = TraceEstimators.XTrace(m.Operator(), 14, seed: 1);
        AssertClose(m.Trace, xt.Estimate, 1e-10, "XTrace");
        Assert.True(xt.StandardError < 1e-10 * m.Trace);
        Assert.True(RelativeError(m.Diagonal, DiagonalEstimators.XDiag(m.Operator(), 14, seed: 1).Diagonal.Span) < 1e-10);
        // Diagonal operators are exact for the Rademacher Hutchinson diagonal with any number of probes.
        var d = new DiagonalOperator<double>(Tensor<double>.FromArray(GaussianVector(50, 6), 50));
        Assert.True(RelativeError(d.GetDiagonal().Span, DiagonalEstimators.Hutchinson(d, 1).Diagonal.Span) < 1e-15);
    }

    [Fact]
    public void XDiagBeatsHutchinsonDiagonalOnDecayingSpectrum()
    {
        var m = SpectralMatrix.Create(PowerDecay(300, 2), seed: 7);
        double Err(Func<int, Tensor<double>> f) => Enumerable.Range(0, 10).Average(s => RelativeError(m.Diagonal, f(s).Span));
        foreach (var budget in new[] { 20, 80 })
        {
            double eh = Err(s => DiagonalEstimators.Hutchinson(m.Operator(), budget, seed: s).Diagonal);
            double ex = Err(s => DiagonalEstimators.XDiag(m.Operator(), budget, seed: s).Diagonal);
            output.WriteLine($"diagonal, λ_i = i^-2, m = {budget}: Hutchinson {eh:E2}, XDiag {ex:E2}");
            Assert.True(ex * 5 < eh, $"m = {budget}: XDiag {ex:E2} vs Hutchinson {eh:E2}");
        }
    }

    [Fact]
    public void FloatOperatorsAreSupported()
    {
        var m = SpectralMatrix.Create(PowerDecay(60, 2), seed: 8);
        var e = TraceEstimators.XTrace(m.OperatorF(), 60);
        AssertClose(m.Trace, e.Estimate, 1e-5, "float exact trace");
        var d = DiagonalEstimators.XDiag(m.OperatorF(), 20, seed: 2);
        Assert.Equal([60], d.Diagonal.ShapeArray);
        Assert.True(d.Diagonal.AllFinite());
    }

    [Fact]
    public void BudgetsAreCheckedAgainstTheDimensionAndTheMethod()
    {
        var m = SpectralMatrix.Create(Geometric(12, 1), seed: 1);
        var op = m.Operator();
        var over = Assert.Throws<ArgumentOutOfRangeException>(() => TraceEstimators.Hutchinson(op, 13));
        Assert.Contains("13 matrix-vector products exceed the dimension n = 12", over.Message);
        Assert.Equal("matVecs", over.ParamName);
        var three = Assert.Throws<ArgumentException>(() => TraceEstimators.HutchPlusPlus(op, 10));
        Assert.Contains("multiple of 3", three.Message);
        Assert.Contains("9 or 12", three.Message);
        Assert.Throws<ArgumentException>(() => TraceEstimators.XTrace(op, 5));
        Assert.Throws<ArgumentException>(() => DiagonalEstimators.XDiag(op, 7));
        var zero = Assert.Throws<ArgumentOutOfRangeException>(() => TraceEstimators.Hutchinson(op, 0));
        Assert.Contains("at least 1", zero.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => TraceEstimators.HutchPlusPlus(op, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DiagonalEstimators.Hutchinson(op, 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrobeniusNormEstimators.Hutchinson(op, 13));
        var rect = new DenseOperator<double>(Tensor<double>.Zeros(3, 4));
        var sq = Assert.Throws<ArgumentException>(() => TraceEstimators.XTrace(rect, 2));
        Assert.Contains("square", sq.Message);
        Assert.Throws<ArgumentException>(() => TraceEstimators.Hutchinson(op, 2, (ProbeDistribution)7));
    }
}
