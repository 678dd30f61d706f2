using CurvNative.Native;
using Xunit;

namespace CurvNative.Tests.Native;

public class BlasSyrkTests
{
    [Theory]
    [InlineData(0, 3)]
    [InlineData(1, 1)]
    [InlineData(17, 5)]
    [InlineData(33, 1025)]
    [InlineData(4, 0)]
    public void UpperTriangleEqualsTheGemmGramMatrix(int n, int k)
    {
        var rng = new Random(n * 31 + k);
        var a = Enumerable.Range(0, n * k).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var c = Enumerable.Range(0, n * n).Select(_ => rng.NextDouble()).ToArray();
        var expected = (double[])c.Clone();
        Blas.Gemm(true, false, n, n, k, 2.0, a, n, a, n, 1.0, expected, n);
        var lowerBefore = (double[])c.Clone();
        Blas.SyrkTransposed(n, k, 2.0, a, 1.0, c);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (j >= i) Assert.Equal(expected[i * n + j], c[i * n + j], 1e-12);
                else Assert.Equal(lowerBefore[i * n + j], c[i * n + j]);
        var cf = c.Select(v => (float)v).ToArray();
        Blas.SyrkTransposed(n, k, 1f, a.Select(v => (float)v).ToArray(), 0f, cf);
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
            {
                double want = 0;
                for (int r = 0; r < k; r++) want += a[r * n + i] * a[r * n + j];
                Assert.Equal(want, cf[i * n + j], 1e-4 * Math.Max(1, k));
            }
    }
}
