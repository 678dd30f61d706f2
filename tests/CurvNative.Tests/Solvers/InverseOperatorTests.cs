using CurvNative.Operators;
using CurvNative.Solvers;
using CurvNative.Tensors;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static CurvNative.Tests.Solvers.TestMatrices;

namespace CurvNative.Tests.Solvers;

/// <summary>Neumann series and Woodbury inverses against closed forms and dense inverses.</summary>
public class InverseOperatorTests
{
    private static Tensor<double> Vec(double[] x) => Tensor<double>.FromArray((double[])x.Clone(), x.Length);

    [Fact]
    public void NeumannSeriesEqualsItsSpectralPolynomial()
    {
        // x = Q diag(α Σ_{k<N} (1 − αλ)^k) Qᵀ b exactly, for any α and N (here also outside the convergence region).
        var m = SpectralMatrix.Create(Geometric(40, 2), seed: 1);
        var b = GaussianVector(40, 2);
        foreach (var (alpha, terms) in new[] { (0.5, 1), (0.9, 7), (1.5, 30), (2.5, 5) })
        {
            var op = new NeumannInverseOperator<double>(m.Operator(), alpha, terms);
            var expected = m.Apply(l => alpha * Enumerable.Range(0, terms).Sum(k => Math.Pow(1 - alpha * l, k)), b);
            double err = RelativeError(expected, op.MatVec(Vec(b)).Span);
            Assert.True(err < 1e-12, $"α = {alpha}, N = {terms}: relative error {err:E2}");
        }
    }

    [Fact]
    public void NeumannSeriesConvergesToTheInverseInsideTheRegion()
    {
        var m = SpectralMatrix.Create(Geometric(30, 1), seed: 3); // λ in [0.1, 1]
        var b = GaussianVector(30, 4);
        var exact = DenseSolve(m.A, 30, b);
        double e50 = RelativeError(exact, new NeumannInverseOperator<double>(m.Operator(), 1.0, 50).MatVec(Vec(b)).Span);
        double e400 = RelativeError(exact, new NeumannInverseOperator<double>(m.Operator(), 1.0, 400).MatVec(Vec(b)).Span);
        Assert.True(e50 < 0.01 && e400 < 1e-12, $"errors {e50:E2} (50 terms), {e400:E2} (400 terms); expected ≈ 0.9^N");
        // With the exact inverse diagonal as preconditioner on a diagonal matrix, one term is exact.
        var d = Tensor<double>.FromArray([2.0, 5.0, 0.5], 3);
        var pre = new DiagonalOperator<double>(Tensor<double>.FromArray([0.5, 0.2, 2.0], 3));
        var x = new NeumannInverseOperator<double>(new DiagonalOperator<double>(d), 1.0, 3, pre).MatVec(Tensor<double>.FromArray([1.0, 1.0, 1.0], 3));
        Assert.Equal([0.5, 0.2, 2.0], x.ToArray());
    }

    [Fact]
    public void NeumannFlagsArgumentsAndTranspose()
    {
        var m = SpectralMatrix.Create(Geometric(5, 1), seed: 1);
        Assert.True(new NeumannInverseOperator<double>(m.Operator(), 1, 3).IsSymmetric);
        Assert.Throws<ArgumentOutOfRangeException>(() => new NeumannInverseOperator<double>(m.Operator(), 0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NeumannInverseOperator<double>(m.Operator(), 1, 0));
        var rect = new DenseOperator<double>(Tensor<double>.Zeros(3, 4));
        var ex = Assert.Throws<ArgumentException>(() => new NeumannInverseOperator<double>(rect, 1, 3));
        Assert.Contains("square", ex.Message);
        // Non-symmetric A: the transpose is the series of Aᵀ.
        var a = new DenseOperator<double>(Tensor<double>.FromArray([1.0, 0.2, -0.1, 0.8], 2, 2));
        var nt = new NeumannInverseOperator<double>(a, 0.7, 6).Transpose().ToDense();
        var tn = new NeumannInverseOperator<double>(a.Transpose(), 0.7, 6).ToDense();
        Assert.True(RelativeError(tn.Span, nt.Span) < 1e-15);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(3.0)]
    public void WoodburyMatchesDenseInverse(double damping)
    {
        int n = 60, r = 7;
        var u = GaussianMatrix(n, r, 5);
        var cm = SpectralMatrix.Create([.. Enumerable.Range(0, r).Select(i => 0.5 + i)], seed: 6); // C ≻ 0
        var op = new WoodburyInverseOperator<double>(Tensor<double>.FromArray(u, n, r), Tensor<double>.FromArray(cm.A, r, r), damping);
        Assert.True(op.UsesCholesky);
        Assert.True(op.IsPositiveSemiDefinite);
        var dense = LowRankPlusDiagonalDense(Enumerable.Repeat(damping, n).ToArray(), u, cm.A, n, r);
        var b = GaussianMatrix(n, 3, 7);
        var x = op.MatMat(Tensor<double>.FromArray(b, n, 3));
        AssertSolves(dense, n, b, 3, x.ToArray(), 1e-10);
    }

    [Fact]
    public void WoodburyHandlesSingularAndIndefiniteCoresAndGeneralDiagonals()
    {
        int n = 50, r = 6;
        var u = GaussianMatrix(n, r, 8);
        // Singular PSD C (rank 3): C⁻¹ does not exist, the identity still holds.
        var cs = SpectralMatrix.Create([4, 2, 1, 0, 0, 0], seed: 9);
        var op = new WoodburyInverseOperator<double>(Tensor<double>.FromArray(u, n, r), Tensor<double>.FromArray(cs.A, r, r), 0.5);
        Assert.Equal(3, op.Rank);
        var b = GaussianMatrix(n, 2, 10);
        AssertSolves(LowRankPlusDiagonalDense(Enumerable.Repeat(0.5, n).ToArray(), u, cs.A, n, r), n, b, 2, op.MatMat(Tensor<double>.FromArray(b, n, 2)).ToArray(), 1e-10);
        // Indefinite C with a positive diagonal D (the LoRD form of a Hessian sketch).
        var ci = SpectralMatrix.Create([3, -0.2, 1, -0.1, 0.5, 2], seed: 11);
        var d = Enumerable.Range(0, n).Select(i => 1 + 0.1 * i).ToArray();
        var opi = new WoodburyInverseOperator<double>(Tensor<double>.FromArray(d, n), Tensor<double>.FromArray(u, n, r), Tensor<double>.FromArray(ci.A, r, r));
        Assert.False(opi.UsesCholesky);
        Assert.False(opi.IsPositiveSemiDefinite);
        AssertSolves(LowRankPlusDiagonalDense(d, u, ci.A, n, r), n, b, 2, opi.MatMat(Tensor<double>.FromArray(b, n, 2)).ToArray(), 1e-9);
        // Float: to float accuracy.
        var opf = new WoodburyInverseOperator<float>(Tensor<double>.FromArray(u, n, r).Cast<float>(), Tensor<double>.FromArray(cs.A, r, r).Cast<float>(), 0.5);
        var xf = opf.MatMat(Tensor<double>.FromArray(b, n, 2).Cast<float>());
        AssertSolves(LowRankPlusDiagonalDense(Enumerable.Repeat(0.5, n).ToArray(), u, cs.A, n, r), n, b, 2, ToDouble(xf), 1e-4);
    }

    [Fact]
    public void WoodburyInvertsRandomDampedLowRankMatrices_Property()
    {
        // (λI + U C Uᵀ) applied to the Woodbury product returns the input, for random sizes including
        // n = 1, r = 0 and r > n, random PSD or indefinite C, and λ of either sign away from the spectrum.
        var cases = Gen.Choose(1, 25).SelectMany(n => Gen.Choose(0, 8).SelectMany(r =>
            Gen.Choose(0, int.MaxValue).Select(seed => (n, r, seed))));
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var (n, r, seed) = c;
            var rng = new Random(seed);
            var u = GaussianMatrix(n, r, seed).Select(v => v / Math.Sqrt(n + r)).ToArray();
            bool psd = rng.Next(2) == 0;
            var gamma = Enumerable.Range(0, r).Select(_ => psd ? rng.NextDouble() : rng.NextDouble() - 0.5).ToArray();
            var cm = r == 0 ? new double[0] : SpectralMatrix.Create(gamma, seed).A;
            double damping = psd ? 0.5 + rng.NextDouble() : (rng.Next(2) == 0 ? 1 : -1) * (2 + rng.NextDouble());
            var op = new WoodburyInverseOperator<double>(Tensor<double>.FromArray(u, n, r), Tensor<double>.FromArray(cm, r, r), damping);
            var b = GaussianVector(n, seed + 1);
            var x = op.MatVec(Tensor<double>.FromArray(b, n)).ToArray();
            // (λI + U C Uᵀ) x
            var ax = new double[n];
            for (int i = 0; i < n; i++)
            {
                ax[i] = damping * x[i];
                for (int p = 0; p < r; p++)
                    for (int q = 0; q < r; q++)
                        for (int j = 0; j < n; j++) ax[i] += u[i * r + p] * cm[p * r + q] * u[j * r + q] * x[j];
            }
            return RelativeError(b, ax) < 1e-10 && op.IsPositiveSemiDefinite == (damping > 0 && gamma.All(g => g > 0));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void WoodburyRejectsBadInput()
    {
        var u = Tensor<double>.Zeros(10, 2);
        var c = Tensor<double>.FromArray([1.0, 0, 0, 1], 2, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WoodburyInverseOperator<double>(u, c, 0.0));
        var shape = Assert.Throws<ArgumentException>(() => new WoodburyInverseOperator<double>(u, Tensor<double>.Zeros(3, 3), 1.0));
        Assert.Contains("C [3, 3]", shape.Message);
        var asym = Assert.Throws<ArgumentException>(() => new WoodburyInverseOperator<double>(u, Tensor<double>.FromArray([1.0, 2, 0, 1], 2, 2), 1.0));
        Assert.Contains("symmetric", asym.Message);
        var zero = Assert.Throws<ArgumentException>(() => new WoodburyInverseOperator<double>(Tensor<double>.FromArray([.. Enumerable.Range(0, 10).Select(i => (double)i)], 10), u, c));
        Assert.Contains("d[0] = 0", zero.Message);
        // D + U C Uᵀ singular: d = −1 on the range of u = e_0 with C = 1.
        var u1 = Tensor<double>.Zeros(4, 1); u1[0, 0] = 1;
        var sing = Assert.Throws<InvalidOperationException>(() => new WoodburyInverseOperator<double>(u1, Tensor<double>.FromArray([1.0], 1, 1), -1.0));
        Assert.Contains("singular", sing.Message);
    }

    /// <summary>diag(d) + U C Uᵀ as a dense [n, n] array.</summary>
    private static double[] LowRankPlusDiagonalDense(double[] d, double[] u, double[] c, int n, int r)
    {
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[i * n + i] = d[i];
            for (int j = 0; j < n; j++)
                for (int p = 0; p < r; p++)
                    for (int q = 0; q < r; q++) a[i * n + j] += u[i * r + p] * c[p * r + q] * u[j * r + q];
        }
        return a;
    }

    /// <summary>Checks that x (columns) solves dense · x = b (columns) by comparing with LAPACK solves.</summary>
    private static void AssertSolves(double[] dense, int n, double[] b, int k, double[] x, double tol)
    {
        for (int c = 0; c < k; c++)
        {
            var bc = Enumerable.Range(0, n).Select(i => b[i * k + c]).ToArray();
            var xc = Enumerable.Range(0, n).Select(i => x[i * k + c]).ToArray();
            double err = RelativeError(DenseSolve(dense, n, bc), xc);
            Assert.True(err < tol, $"column {c}: relative error {err:E2} (tolerance {tol:E0})");
        }
    }
}
