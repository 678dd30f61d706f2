using CurvNative.Kernels;
using Xunit;

namespace CurvNative.Tests.Native;

/// <summary>The LAPACK LU paths of the one dense-kernel place (they replaced a hand-written LU and a Gauss–Jordan
/// inverse), against independent computations.</summary>
public class DenseKernelsTests
{
    private static double[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n * n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(17)]
    [InlineData(60)]
    public void InverseTimesMatrixIsTheIdentity(int n)
    {
        var a = Random(n, n);
        var inv = DenseKernels.Invert(a, n)!;
        var product = DenseKernels.MatMulArray<double>(inv, n, n, false, a, n, n, false);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.True(Math.Abs(product[i * n + j] - (i == j ? 1 : 0)) < 1e-10, $"[{i}, {j}] = {product[i * n + j]}");
    }

    [Fact]
    public void SingularOrNonFiniteMatricesHaveNoInverse()
    {
        Assert.Null(DenseKernels.Invert([1, 2, 2, 4], 2));
        Assert.Null(DenseKernels.Invert([0, 0, 0, 0], 2));
        Assert.Null(DenseKernels.Invert([1, double.NaN, 0, 1], 2));
        Assert.Empty(DenseKernels.Invert([], 0)!);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(17)]
    public void SignAndLogDeterminantMatchTheProductOfEigenvaluesOfASymmetricMatrix(int n)
    {
        // A symmetric matrix with known eigenvalues: Q diag(w) Q^T with w of both signs.
        var q = DenseKernels.Orthonormalize(Random(n, 7), n, n).Q;
        var w = Enumerable.Range(0, n).Select(i => (i % 3 == 0 ? -1.0 : 1.0) * (0.5 + i)).ToArray();
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++) a[i * n + j] += q[i * n + k] * w[k] * q[j * n + k];
        var (sign, logAbs) = DenseKernels.SignLogDet<double>(a, n);
        int negatives = w.Count(v => v < 0);
        Assert.Equal(negatives % 2 == 0 ? 1 : -1, sign);
        Assert.Equal(w.Sum(v => Math.Log(Math.Abs(v))), logAbs, 1e-10);
    }

    [Fact]
    public void SignLogDetEdgeCases()
    {
        Assert.Equal((1, 0.0), DenseKernels.SignLogDet<double>([], 0));
        Assert.Equal((-1, Math.Log(6)), DenseKernels.SignLogDet<double>([0, 2, 3, 0], 2));   // one row swap
        Assert.Equal((0, double.NegativeInfinity), DenseKernels.SignLogDet<float>([1, 2, 2, 4], 2));
        var (s, l) = DenseKernels.SignLogDet<double>([1, double.NaN, 0, 1], 2);
        Assert.Equal(0, s);
        Assert.True(double.IsNaN(l));
    }
}
