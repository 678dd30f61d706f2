using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Tensors;

/// <summary>Reductions give the same bits wherever the operands lie in memory, and the right value.</summary>
public class ReductionsTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1025)]
    public void SameBitsAtEveryOffsetAndCloseToTheExactValue(int n)
    {
        var rng = new Random(n + 1);
        var x = Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray();
        double dot0 = 0, sum0 = 0;
        var z0 = Array.Empty<double>();
        for (int offset = 0; offset < 8; offset++)
        {
            // The same values at another address: shifted by `offset` elements inside a larger array.
            var xs = new double[n + offset]; var ys = new double[n + offset];
            x.CopyTo(xs, offset); y.CopyTo(ys, offset);
            var xa = new ReadOnlySpan<double>(xs, offset, n); var ya = new ReadOnlySpan<double>(ys, offset, n);
            double dot = Reductions.Dot(xa, ya), sum = Reductions.Sum(xa);
            var z = (double[])ys.Clone();
            Reductions.AddScaled(xa, 0.37, new Span<double>(z, offset, n));
            if (offset == 0) { dot0 = dot; sum0 = sum; z0 = z[offset..]; continue; }
            Assert.Equal(dot0, dot);
            Assert.Equal(sum0, sum);
            Assert.Equal(z0, z[offset..]);
        }
        decimal exactDot = 0, exactSum = 0;
        for (int i = 0; i < n; i++) { exactDot += (decimal)x[i] * (decimal)y[i]; exactSum += (decimal)x[i]; }
        Assert.True(Math.Abs(dot0 - (double)exactDot) <= 1e-14 * Math.Max(1, n), $"dot {dot0} vs {exactDot}");
        Assert.True(Math.Abs(sum0 - (double)exactSum) <= 1e-14 * Math.Max(1, n), $"sum {sum0} vs {exactSum}");
        for (int i = 0; i < n; i++) Assert.Equal(y[i] + 0.37 * x[i], z0[i], 1e-15);
    }

    [Fact]
    public void MismatchedLengthsNameBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => Reductions.Dot<double>(new double[3], new double[4]));
        Assert.Contains("3 and 4", e.Message);
    }
}
