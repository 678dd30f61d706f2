using CurvNative.Operators;
using CurvNative.Solvers.Eigen;
using CurvNative.Tensors;
using Xunit;
using Xunit.Abstractions;
using static CurvNative.Tests.Solvers.TestMatrices;

namespace CurvNative.Tests.Solvers;

/// <summary>Thick-restart Lanczos against known spectra and dense eigendecompositions.</summary>
public class LanczosTests(ITestOutputHelper output)
{
    public static TheoryData<string, EigenWhich> Cases()
    {
        var data = new TheoryData<string, EigenWhich>();
        foreach (var s in new[] { "psd", "indefinite", "clustered", "slow" })
            foreach (var w in new[] { EigenWhich.Largest, EigenWhich.Smallest, EigenWhich.LargestMagnitude })
                data.Add(s, w);
        return data;
    }

    private static double[] Spectrum(string kind, int n) => kind switch
    {
        "psd" => Geometric(n, 4),
        "indefinite" => Indefinite(n, 5),
        "clustered" => Clustered(n, 6),
        _ => [.. Enumerable.Range(0, n).Select(i => 1 + 1e-3 * i)], // slow: relative gaps 1e-3
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EigenvaluesMatchKnownSpectrum(string kind, EigenWhich which)
    {
        int n = 300, k = 6;
        var m = SpectralMatrix.Create(Spectrum(kind, n), seed: 2);
        var r = Lanczos.Eigs(m.Operator(), k, which, new LanczosOptions { MaxMatVecs = 20000 });
        Assert.True(r.Converged, r.Message);
        var expected = which switch
        {
            EigenWhich.Largest => m.Eigenvalues.OrderByDescending(x => x).Take(k),
            EigenWhich.Smallest => m.Eigenvalues.OrderBy(x => x).Take(k),
            _ => m.Eigenvalues.OrderByDescending(Math.Abs).Take(k),
        };
        double scale = m.Eigenvalues.Max(Math.Abs);
        var e = expected.ToArray();
        for (int j = 0; j < k; j++)
            Assert.True(Math.Abs(e[j] - r.Eigenvalues[j]) <= 1e-10 * scale, $"{kind}/{which} eigenvalue {j}: expected {e[j]:R}, got {r.Eigenvalues[j]:R}");
        AssertEigenpairs(m.Operator(), r, 1e-8 * scale);
        output.WriteLine($"{kind}/{which}: {r.MatVecs} products, {r.Restarts} restarts");
    }

    [Fact]
    public void RestartsKeepTheBasisBoundedAndStillConverge()
    {
        var m = SpectralMatrix.Create(PowerDecay(400, 1), seed: 3);
        var r = Lanczos.Eigs(m.Operator(), 10, EigenWhich.Largest, new LanczosOptions { BasisSize = 21 });
        Assert.True(r.Converged, r.Message);
        Assert.True(r.Restarts > 0, "a 21-vector basis should need restarts");
        var e = m.Eigenvalues.OrderByDescending(x => x).Take(10).ToArray();
        for (int j = 0; j < 10; j++) AssertClose(e[j], r.Eigenvalues[j], 1e-10, $"eigenvalue {j}");
        output.WriteLine($"power decay, m = 21: {r.MatVecs} products, {r.Restarts} restarts");
    }

    [Fact]
    public void EigenvaluesOfRealHessianMatchDenseEigendecomposition()
    {
        var (h, hd, n) = Hessian("cnn", "mse");
        var dense = Eigenvalues(hd, n);
        double scale = dense.Max(Math.Abs);
        foreach (var which in new[] { EigenWhich.LargestMagnitude, EigenWhich.Smallest })
        {
            var r = Lanczos.Eigs(h, 5, which);
            Assert.True(r.Converged, r.Message);
            var e = (which == EigenWhich.Smallest ? dense.OrderBy(x => x) : dense.OrderByDescending(Math.Abs)).Take(5).ToArray();
            for (int j = 0; j < 5; j++)
                Assert.True(Math.Abs(e[j] - r.Eigenvalues[j]) <= 1e-10 * scale, $"{which} {j}: dense {e[j]:R}, Lanczos {r.Eigenvalues[j]:R}");
            AssertEigenpairs(h, r, 1e-8 * scale);
            output.WriteLine($"cnn/mse Hessian (n = {n}), {which}: {r.MatVecs} products");
        }
        var (g, gd, ng) = Ggn("mlp", "ce", seed: 2);
        var rg = Lanczos.Eigs(g, 3, EigenWhich.Largest);
        var eg = Eigenvalues(gd, ng).OrderByDescending(x => x).Take(3).ToArray();
        for (int j = 0; j < 3; j++) AssertClose(eg[j], rg.Eigenvalues[j], 1e-10, $"GGN eigenvalue {j}");
    }

    [Fact]
    public void FullBasisIsExactAndKEqualsNWorks()
    {
        var m = SpectralMatrix.Create(Indefinite(12, 1), seed: 4);
        var r = Lanczos.Eigs(m.Operator(), 12, EigenWhich.Smallest);
        Assert.True(r.Converged, r.Message);
        var e = m.Eigenvalues.OrderBy(x => x).ToArray();
        for (int j = 0; j < 12; j++) Assert.True(Math.Abs(e[j] - r.Eigenvalues[j]) < 1e-12, $"eigenvalue {j}");
    }

    [Fact]
    public void Top20OfLargeDiagonalOperatorConverge()
    {
        // n = 200,000: top 20 eigenvalues 2.0, 1.98, ..., 1.62 (relative gaps 1%) above a bulk in [0, 1].
        int n = 200_000, k = 20;
        var rng = new Random(7);
        var d = new double[n];
        for (int i = 0; i < n; i++) d[i] = rng.NextDouble();
        var top = Enumerable.Range(0, k).Select(i => 2.0 - 0.02 * i).ToArray();
        var positions = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(k).ToArray();
        for (int i = 0; i < k; i++) d[positions[i]] = top[i];
        var op = new DiagonalOperator<double>(Tensor<double>.FromArray(d, n));
        var r = Lanczos.Eigs(op, k, EigenWhich.Largest, new LanczosOptions { Tolerance = 1e-8, Seed = 1 });
        Assert.True(r.Converged, r.Message);
        for (int i = 0; i < k; i++)
        {
            Assert.True(Math.Abs(top[i] - r.Eigenvalues[i]) < 1e-10, $"eigenvalue {i}: expected {top[i]}, got {r.Eigenvalues[i]:R}");
            Assert.True(Math.Abs(Math.Abs(r.Eigenvectors[positions[i], i]) - 1) < 1e-6, $"eigenvector {i} should be e_{positions[i]}");
        }
        output.WriteLine($"n = {n}, k = {k}: {r.MatVecs} products, {r.Restarts} restarts, basis 41");
    }

    [Fact]
    public void FloatOperatorConvergesToFloatAccuracy()
    {
        var m = SpectralMatrix.Create(Indefinite(100, 8), seed: 9);
        var r = Lanczos.Eigs(m.OperatorF(), 4, EigenWhich.LargestMagnitude);
        Assert.True(r.Converged, r.Message);
        var e = m.Eigenvalues.OrderByDescending(Math.Abs).Take(4).ToArray();
        for (int j = 0; j < 4; j++) AssertClose(e[j], r.Eigenvalues[j], 1e-5, $"eigenvalue {j}");
    }

    [Fact]
    public void NonConvergenceIsReportedOrThrown()
    {
        var m = SpectralMatrix.Create(Spectrum("slow", 300), seed: 2);
        var r = Lanczos.Eigs(m.Operator(), 5, EigenWhich.Largest, new LanczosOptions { MaxMatVecs = 30 });
        Assert.False(r.Converged);
        Assert.Contains("raise MaxMatVecs", r.Message);
        Assert.True(r.MatVecs <= 30);
        Assert.Throws<EigenNotConvergedException>(() =>
            Lanczos.Eigs(m.Operator(), 5, EigenWhich.Largest, new LanczosOptions { MaxMatVecs = 30, ThrowOnFailure = true }));
    }

    [Fact]
    public void BadArgumentsGiveClearErrors()
    {
        var m = SpectralMatrix.Create(Geometric(10, 1), seed: 1);
        var big = Assert.Throws<ArgumentOutOfRangeException>(() => Lanczos.Eigs(m.Operator(), 11));
        Assert.Contains("n = 10", big.Message);
        Assert.Contains("k = 11", big.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Lanczos.Eigs(m.Operator(), 0));
        var sym = Assert.Throws<ArgumentException>(() => Lanczos.Eigs(m.Operator(flagSymmetric: false), 2));
        Assert.Contains("symmetric", sym.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Lanczos.Eigs(m.Operator(), 3, options: new LanczosOptions { BasisSize = 3 }));
    }

    /// <summary>Orthonormal eigenvectors with ‖A x − θ x‖ within tolerance, matching the reported residuals.</summary>
    private static void AssertEigenpairs<T>(LinearOperator<T> op, EigenResult<T> r, double tol) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int n = op.Columns, k = r.Eigenvalues.Length;
        var x = r.Eigenvectors.Cast<double>();
        var ax = op.MatMat(r.Eigenvectors).Cast<double>();
        for (int j = 0; j < k; j++)
        {
            double res = 0;
            for (int i = 0; i < n; i++) { double v = ax[i, j] - r.Eigenvalues[j] * x[i, j]; res += v * v; }
            res = Math.Sqrt(res);
            Assert.True(res <= tol, $"pair {j}: true residual {res:E2} > {tol:E2}");
            Assert.True(Math.Abs(res - r.ResidualNorms[j]) <= tol, $"pair {j}: reported residual {r.ResidualNorms[j]:E2}, true {res:E2}");
            for (int l = 0; l <= j; l++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += x[i, j] * x[i, l];
                Assert.True(Math.Abs(dot - (l == j ? 1 : 0)) < 1e-8, $"eigenvectors {j}, {l}: inner product {dot:E2}");
            }
        }
    }
}
