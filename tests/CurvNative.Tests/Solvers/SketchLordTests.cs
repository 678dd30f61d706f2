using CurvNative.Operators;
using CurvNative.Solvers.Estimators;
using CurvNative.Tensors;
using Xunit;
using Xunit.Abstractions;
using static CurvNative.Tests.Solvers.TestMatrices;

namespace CurvNative.Tests.Solvers;

/// <summary>Joint low-rank plus diagonal sketches: exact recovery of LoRD operators, joint versus sequential.</summary>
public class SketchLordTests(ITestOutputHelper output)
{
    /// <summary>A = U Λ Uᵀ + diag(d) + noise · (symmetric Gaussian)/√n as a dense array.</summary>
    private static double[] Lord(int n, double[] lambda, double[] d, double noise, int seed)
    {
        int r = lambda.Length;
        var u = GaussianMatrix(n, r, seed);
        // orthonormalise U by Gram–Schmidt so that Λ are its eigenvalues
        for (int j = 0; j < r; j++)
        {
            for (int l = 0; l < j; l++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += u[i * r + j] * u[i * r + l];
                for (int i = 0; i < n; i++) u[i * r + j] -= dot * u[i * r + l];
            }
            double norm = Math.Sqrt(Enumerable.Range(0, n).Sum(i => u[i * r + j] * u[i * r + j]));
            for (int i = 0; i < n; i++) u[i * r + j] /= norm;
        }
        var g = GaussianMatrix(n, n, seed + 1);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = i == j ? d[i] : 0;
                for (int p = 0; p < r; p++) s += u[i * r + p] * lambda[p] * u[j * r + p];
                a[i * n + j] = s + noise * 0.5 * (g[i * n + j] + g[j * n + i]) / Math.Sqrt(n);
            }
        return a;
    }

    private static DenseOperator<double> Op(double[] a, int n) => new(Tensor<double>.FromArray(a, n, n), isSymmetric: true);

    [Fact]
    public void JointSketchRecoversAnExactLowRankPlusDiagonalOperator()
    {
        int n = 300;
        var rng = new Random(1);
        var d = Enumerable.Range(0, n).Select(_ => 0.5 + rng.NextDouble()).ToArray();
        var a = Lord(n, [10, 6, -4, 3, 2], d, 0, seed: 2);
        var op = Op(a, n);
        var errors = new Dictionary<LordMode, double>();
        foreach (var mode in Enum.GetValues<LordMode>())
        {
            var lord = LowRankPlusDiagonal.SketchLord(op, rank: 5, matVecs: 20, new SketchLordOptions { Mode = mode, Seed = 3 });
            errors[mode] = RelativeError(a, lord.ToDense().Span);
            output.WriteLine($"{mode}: relative Frobenius error {errors[mode]:E2}, sketch residual {lord.Report.SketchResidual:E2}, {lord.Report.Iterations} iterations");
            Assert.Equal(20, lord.Report.MatVecs);
        }
        Assert.True(errors[LordMode.Joint] < 1e-8, $"joint error {errors[LordMode.Joint]:E2}");
        Assert.True(errors[LordMode.DiagonalThenLowRank] > 1e-2 && errors[LordMode.LowRankThenDiagonal] > 1e-2,
            "the sequential variants cannot recover the exact LoRD operator from 20 products");
    }

    [Fact]
    public void JointSketchBeatsSequentialVariantsOnNoisyLowRankPlusDiagonal()
    {
        int n = 300;
        var rng = new Random(4);
        var d = Enumerable.Range(0, n).Select(_ => 2 * rng.NextDouble()).ToArray();
        var a = Lord(n, [20, 12, 8, 5, 3, 2, 1.5, 1], d, 0.01, seed: 5);
        var op = Op(a, n);
        foreach (var s in new[] { 20, 40 })
        {
            double Err(LordMode mode) => Enumerable.Range(0, 5).Average(seed =>
                RelativeError(a, LowRankPlusDiagonal.SketchLord(op, 8, s, new SketchLordOptions { Mode = mode, Seed = seed }).ToDense().Span));
            double joint = Err(LordMode.Joint), dl = Err(LordMode.DiagonalThenLowRank), ld = Err(LordMode.LowRankThenDiagonal);
            output.WriteLine($"noisy LoRD, rank 8, s = {s}: joint {joint:E2}, diagonal→low-rank {dl:E2}, low-rank→diagonal {ld:E2}");
            Assert.True(joint * 3 < Math.Min(dl, ld), $"s = {s}: joint {joint:E2} vs sequential {dl:E2}, {ld:E2}");
        }
    }

    [Fact]
    public void ResultIsAFastOperatorWithAClosedFormInverse()
    {
        int n = 80;
        var rng = new Random(6);
        var d = Enumerable.Range(0, n).Select(_ => 1 + rng.NextDouble()).ToArray();
        var a = Lord(n, [5, 3, 1], d, 0, seed: 7);
        var lord = LowRankPlusDiagonal.SketchLord(Op(a, n), 3, 12, new SketchLordOptions { Seed = 1 });
        Assert.True(lord.IsSymmetric && lord.IsPositiveSemiDefinite);
        Assert.Equal(3, lord.LowRank);
        var u = lord.LowRankFactor.ToArray();
        var lam = lord.LowRankEigenvalues;
        Assert.Equal([5.0, 3.0, 1.0], lam.Select(x => Math.Round(x, 8)));
        // MatMat = U Λ Uᵀ X + d ⊙ X.
        var x = GaussianMatrix(n, 4, 8);
        var y = lord.MatMat(Tensor<double>.FromArray(x, n, 4)).ToArray();
        var dd = lord.DiagonalPart.ToArray();
        var expected = new double[n * 4];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 4; c++)
            {
                double s = dd[i] * x[i * 4 + c];
                for (int p = 0; p < 3; p++)
                    for (int j = 0; j < n; j++) s += u[i * 3 + p] * lam[p] * u[j * 3 + p] * x[j * 4 + c];
                expected[i * 4 + c] = s;
            }
        Assert.True(RelativeError(expected, y) < 1e-13);
        // (A + 0.5 I)⁻¹ through Woodbury.
        var b = GaussianVector(n, 9);
        var xi = lord.Inverse(0.5).MatVec(Tensor<double>.FromArray(b, n));
        Assert.True(RelativeError(DenseSolve(a, n, b, 0.5), xi.Span) < 1e-8);
    }

    [Fact]
    public void BadArgumentsGiveClearErrors()
    {
        var op = Op(Lord(20, [1], Enumerable.Repeat(1.0, 20).ToArray(), 0, 1), 20);
        var few = Assert.Throws<ArgumentOutOfRangeException>(() => LowRankPlusDiagonal.SketchLord(op, 5, 6));
        Assert.Contains("rank + 2 = 7", few.Message);
        var many = Assert.Throws<ArgumentOutOfRangeException>(() => LowRankPlusDiagonal.SketchLord(op, 2, 21));
        Assert.Contains("n = 20", many.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => LowRankPlusDiagonal.SketchLord(op, -1, 5));
        var nonsym = new DenseOperator<double>(Tensor<double>.Zeros(20, 20));
        Assert.Throws<ArgumentException>(() => LowRankPlusDiagonal.SketchLord(nonsym, 1, 5));
    }
}
