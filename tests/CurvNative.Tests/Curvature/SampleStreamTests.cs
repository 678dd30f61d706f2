using CurvNative.Operators.Curvature;
using Xunit;

namespace CurvNative.Tests.Curvature;

public class SampleStreamTests
{
    // Every member a loss could call. Two streams of one key must agree on all of them: a member that fell back
    // to Random's own (randomly seeded) generator would make them differ.
    private static List<double> Draws(Random r)
    {
        var bytes = new byte[13];
        r.NextBytes(bytes);
        Span<byte> span = stackalloc byte[5];
        r.NextBytes(span);
        return [r.Next(), r.Next(7), r.Next(-3, 4), r.NextInt64(), r.NextInt64(1L << 40), r.NextInt64(-5, 5), r.NextDouble(),
            r.NextSingle(), .. bytes.Select(b => (double)b), .. span.ToArray().Select(b => (double)b)];
    }

    [Fact]
    public void ADrawDependsOnlyOnSeedAndSample()
    {
        Assert.Equal(Draws(new SampleStream(3, 17)), Draws(new SampleStream(3, 17)));
        Assert.NotEqual(Draws(new SampleStream(3, 17)), Draws(new SampleStream(3, 18)));
        Assert.NotEqual(Draws(new SampleStream(3, 17)), Draws(new SampleStream(4, 17)));
    }

    [Fact]
    public void DrawsStayInRangeAndLookUniform()
    {
        var r = new SampleStream(1, 0);
        const int n = 200_000;
        double sum = 0;
        var counts = new int[10];
        for (int i = 0; i < n; i++)
        {
            double u = r.NextDouble();
            Assert.InRange(u, 0.0, 0.9999999999999999);
            sum += u;
            int k = r.Next(10);
            Assert.InRange(k, 0, 9);
            counts[k]++;
            Assert.InRange(r.Next(-2, 3), -2, 2);
            Assert.InRange(r.NextSingle(), 0f, 0.99999994f);
        }
        // Mean of U(0,1) within 5 standard errors (sd 0.289 / sqrt(n)); each class count within 5 sd of n / 10.
        Assert.InRange(sum / n, 0.5 - 5 * 0.289 / Math.Sqrt(n), 0.5 + 5 * 0.289 / Math.Sqrt(n));
        double sd = Math.Sqrt(n * 0.1 * 0.9);
        Assert.All(counts, c => Assert.InRange(c, n / 10 - 5 * sd, n / 10 + 5 * sd));
        Assert.Equal(0, r.Next(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Next(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Next(2, 1));
    }
}
