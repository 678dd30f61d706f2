using CurvNative.Native;
using CurvNative.NN.Losses;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Tensors;
using CurvNative.Tests.Curvature;
using Xunit;

namespace CurvNative.Tests.Solvers;

/// <summary>A symmetric test matrix A = Q diag(λ) Qᵀ with a known spectrum, dense and as an operator.</summary>
public sealed class SpectralMatrix
{
    public required double[] Eigenvalues { get; init; }   // as given (not sorted)
    public required double[] Q { get; init; }             // [n, n], column i is the eigenvector of Eigenvalues[i]
    public required double[] A { get; init; }             // [n, n]
    public int N => Eigenvalues.Length;

    public DenseOperator<double> Operator(bool flagSymmetric = true)
        => new(Tensor<double>.FromArray((double[])A.Clone(), N, N), isSymmetric: flagSymmetric,
               isPositiveSemiDefinite: flagSymmetric && Eigenvalues.All(l => l >= 0));

    public DenseOperator<float> OperatorF() => new(Tensor<double>.FromArray((double[])A.Clone(), N, N).Cast<float>(), isSymmetric: true);

    public double Trace => Eigenvalues.Sum();

    public double FrobeniusSquared => Eigenvalues.Sum(l => l * l);

    public double[] Diagonal => [.. Enumerable.Range(0, N).Select(i => A[i * N + i])];

    /// <summary>f(A) b = Q diag(f(λ)) Qᵀ b.</summary>
    public double[] Apply(Func<double, double> f, double[] b)
    {
        int n = N;
        var qb = new double[n];
        for (int j = 0; j < n; j++) for (int i = 0; i < n; i++) qb[j] += Q[i * n + j] * b[i];
        var x = new double[n];
        for (int j = 0; j < n; j++)
        {
            double c = f(Eigenvalues[j]) * qb[j];
            for (int i = 0; i < n; i++) x[i] += Q[i * n + j] * c;
        }
        return x;
    }

    public static SpectralMatrix Create(double[] eigenvalues, int seed)
    {
        int n = eigenvalues.Length;
        var q = TestMatrices.RandomOrthogonal(n, seed);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int l = 0; l < n; l++) s += q[i * n + l] * eigenvalues[l] * q[j * n + l];
                a[i * n + j] = s;
            }
        for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j] + a[j * n + i]);
        return new SpectralMatrix { Eigenvalues = (double[])eigenvalues.Clone(), Q = q, A = a };
    }
}

public static class TestMatrices
{
    /// <summary>A random orthogonal matrix: the eigenvectors of a random symmetric Gaussian matrix (LAPACK dsyevd), as columns.</summary>
    public static double[] RandomOrthogonal(int n, int seed)
    {
        var rng = new Random(seed);
        var g = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) g[i * n + j] = g[j * n + i] = Gaussian(rng);
        var w = new double[n];
        Lapack.SymmetricEigen<double>(n, g, w);
        // g now holds Vᵀ row-major: row i is eigenvector i; return V (columns are eigenvectors).
        var q = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) q[j * n + i] = g[i * n + j];
        return q;
    }

    public static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static double[] GaussianVector(int n, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => Gaussian(rng))];
    }

    public static double[] GaussianMatrix(int rows, int cols, int seed) => GaussianVector(rows * cols, seed);

    // ------------------------------------------------------------------ spectra

    /// <summary>Positive definite, λ_i = 10^{−logCond · i/(n−1)} (condition number 10^logCond).</summary>
    public static double[] Geometric(int n, double logCond) => [.. Enumerable.Range(0, n).Select(i => Math.Pow(10, -logCond * i / (n - 1)))];

    /// <summary>Indefinite: half positive in [0.5, 5], half negative in [−4, −0.3], none near 0.</summary>
    public static double[] Indefinite(int n, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(i => i % 2 == 0 ? 0.5 + 4.5 * rng.NextDouble() : -(0.3 + 3.7 * rng.NextDouble()))];
    }

    /// <summary>Polynomial decay λ_i = (i + 1)^{−p}.</summary>
    public static double[] PowerDecay(int n, double p) => [.. Enumerable.Range(0, n).Select(i => Math.Pow(i + 1, -p))];

    /// <summary>Three tight clusters (at 1, 5 and −2, spread 1e-3) plus a few outliers, all distinct.</summary>
    public static double[] Clustered(int n, int seed)
    {
        var rng = new Random(seed);
        var centers = new[] { 1.0, 5.0, -2.0 };
        var l = Enumerable.Range(0, n).Select(i => centers[i % 3] + 1e-3 * rng.NextDouble()).ToArray();
        l[0] = 20; l[1] = 14; l[2] = -9;
        return l;
    }

    // ------------------------------------------------------------------ dense references

    /// <summary>Solution of A x = b for symmetric A by LAPACK: Cholesky when positive definite, else the eigendecomposition.</summary>
    public static double[] DenseSolve(double[] a, int n, double[] b, double shift = 0)
    {
        var m = (double[])a.Clone();
        for (int i = 0; i < n; i++) m[i * n + i] += shift;
        var chol = (double[])m.Clone();
        if (Lapack.TryCholesky<double>(n, chol) == 0)
        {
            var x = (double[])b.Clone();
            Lapack.CholeskySolve<double>(n, 1, chol, x);
            return x;
        }
        var w = new double[n];
        Lapack.SymmetricEigen<double>(n, m, w);
        var r = new double[n];
        for (int e = 0; e < n; e++)
        {
            double c = 0;
            for (int i = 0; i < n; i++) c += m[e * n + i] * b[i];
            c /= w[e];
            for (int i = 0; i < n; i++) r[i] += c * m[e * n + i];
        }
        return r;
    }

    /// <summary>Ascending eigenvalues of a dense symmetric matrix.</summary>
    public static double[] Eigenvalues(double[] a, int n)
    {
        var m = (double[])a.Clone();
        var w = new double[n];
        Lapack.SymmetricEigen<double>(n, m, w, computeVectors: false);
        return w;
    }

    public static double RelativeError(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++) { num += (expected[i] - actual[i]) * (expected[i] - actual[i]); den += expected[i] * expected[i]; }
        return Math.Sqrt(num / Math.Max(den, double.MinValue));
    }

    public static double[] ToDouble(Tensor<float> t) => [.. t.Span.ToArray().Select(v => (double)v)];

    // ------------------------------------------------------------------ real curvature

    public static (HessianOperator<double> Op, double[] Dense, int N) Hessian(string model = "mlp", string loss = "ce", int seed = 1)
    {
        var p = Problem.Create(model, loss, Reduction.Mean, seed: seed);
        var op = new HessianOperator<double>(p.Model, p.Loss, p.Data);
        return (op, p.Hessian().ToArray(), p.P);
    }

    public static (GgnOperator<double> Op, double[] Dense, int N) Ggn(string model = "mlp", string loss = "ce", int seed = 1)
    {
        var p = Problem.Create(model, loss, Reduction.Mean, seed: seed);
        var op = new GgnOperator<double>(p.Model, p.Loss, p.Data);
        return (op, p.Ggn().ToArray(), p.P);
    }

    public static void AssertClose(double expected, double actual, double relTol, string what)
        => Assert.True(Math.Abs(expected - actual) <= relTol * Math.Max(Math.Abs(expected), 1e-300),
            $"{what}: expected {expected:R}, got {actual:R} (relative error {Math.Abs(expected - actual) / Math.Abs(expected):E2}, tolerance {relTol:E0})");
}
