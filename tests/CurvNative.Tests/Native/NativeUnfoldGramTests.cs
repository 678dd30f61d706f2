using CurvNative.Native;
using Xunit;
using static CurvNative.Tests.Native.NativeTestUtil;

namespace CurvNative.Tests.Native;

/// <summary>cn_unfold_gram / cn_unfold_sum (KFAC's convolution input factor without materialised rows) against
/// float64 loops over the reference unfold, at awkward sizes: no images, one 1x1 image, 17 images with stride
/// and padding, 1025 positions, a 1025-wide patch, and a batch that the kernel splits into several chunks.</summary>
public class NativeUnfoldGramTests
{
    private static readonly Dictionary<string, Conv2dGeometry> Cases = new()
    {
        ["n0"] = Conv2dGeometry.Create(0, 2, 5, 5, 1, 3, 3, 1, 1, 1, 1),
        ["n1-1x1"] = Conv2dGeometry.Create(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
        ["n17-stride-pad"] = Conv2dGeometry.Create(17, 3, 7, 6, 1, 3, 2, 2, 1, 1, 0),
        ["positions-1025"] = Conv2dGeometry.Create(2, 1, 1, 1025, 1, 1, 1, 1, 1, 0, 0),
        ["patch-1025"] = Conv2dGeometry.Create(3, 1025, 2, 2, 1, 1, 1, 1, 1, 0, 0),
        ["chunked"] = Conv2dGeometry.Create(24, 16, 12, 12, 1, 3, 3, 1, 1, 1, 1),
    };

    public static TheoryData<string, bool, double> GramCases()
    {
        var d = new TheoryData<string, bool, double>();
        foreach (var name in Cases.Keys)
            foreach (bool augment in new[] { false, true })
                foreach (double beta in new[] { 0.0, 1.0, 0.5 })
                    d.Add(name, augment, beta);
        return d;
    }

    public static TheoryData<string> SumCases()
    {
        var d = new TheoryData<string>();
        foreach (var name in Cases.Keys) d.Add(name);
        return d;
    }

    [Theory, MemberData(nameof(GramCases))] public void Gram_f64(string name, bool augment, double beta) => GramCase<double>(name, augment, beta);
    [Theory, MemberData(nameof(GramCases))] public void Gram_f32(string name, bool augment, double beta) => GramCase<float>(name, augment, beta);
    [Theory, MemberData(nameof(SumCases))] public void Sum_f64(string name) => SumCase<double>(name);
    [Theory, MemberData(nameof(SumCases))] public void Sum_f32(string name) => SumCase<float>(name);

    private static int Seed(string name, int salt) => name.Aggregate(17 * salt, (h, ch) => h * 31 + ch);

    private static void GramCase<T>(string name, bool augment, double beta) where T : unmanaged
    {
        var g = Cases[name];
        int k = (int)g.PatchSize, s = g.OutHeight * g.OutWidth, m = k + (augment ? 1 : 0), ldc = m + 3;
        double alpha = 0.75;
        double[] x = Round<T>(Random(g.InputLength, Seed(name, 1)));
        var cols = ConvReference.Unfold(g, x);
        // c starts random (NaN when beta = 0: it must not be read); the strict lower triangle and the padding
        // columns must come back untouched.
        var c0 = Round<T>(Random((long)m * ldc, Seed(name, 2)));
        if (beta == 0)
            for (int i = 0; i < m; i++)
                for (int j = i; j < m; j++) c0[i * ldc + j] = double.NaN;
        var c = As<T>(c0);
        NativeKernels.UnfoldGram(g, As<T>(x), Cast<T>(alpha), Cast<T>(beta), augment, c, ldc);
        var actual = ToDouble(c);

        var expected = new double[m * m];
        var bound = new double[m * m];
        var got = new double[m * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
            {
                int at = i * ldc + j;
                if (j < i || j >= m)
                {
                    if (!(actual[at].Equals(c0[at]))) Assert.Fail($"{name}: element ({i}, {j}) outside the upper triangle changed.");
                    continue;
                }
                double sum = 0, abs = 0;
                for (int b = 0; b < g.N; b++)
                    for (int p = 0; p < s; p++)
                    {
                        double u = i < k ? cols[((long)b * k + i) * s + p] : 1, v = j < k ? cols[((long)b * k + j) * s + p] : 1;
                        sum += u * v;
                        abs += Math.Abs(u * v);
                    }
                double prior = beta == 0 ? 0 : beta * c0[at];
                expected[i * m + j] = prior + alpha * sum;
                bound[i * m + j] = Math.Abs(prior) + alpha * abs;
                got[i * m + j] = actual[at];
            }
        for (int i = 0; i < m; i++)
            for (int j = m; j < ldc; j++)
                Assert.Equal(c0[i * ldc + j], actual[i * ldc + j]);
        AssertClose(expected, got, bound, typeof(T) == typeof(float) ? 1e-5 : 1e-13, $"unfold gram {name} augment={augment} beta={beta}");
    }

    private static void SumCase<T>(string name) where T : unmanaged
    {
        var g = Cases[name];
        int k = (int)g.PatchSize, s = g.OutHeight * g.OutWidth;
        double[] x = Round<T>(Random(g.InputLength, Seed(name, 1)));
        var cols = ConvReference.Unfold(g, x);
        var sums = As<T>(Enumerable.Repeat(7.0, g.N * k).ToArray()); // must be overwritten
        NativeKernels.UnfoldSum(g, As<T>(x), sums);
        var expected = new double[g.N * k];
        var bound = new double[g.N * k];
        for (int r = 0; r < g.N * k; r++)
            for (int p = 0; p < s; p++)
            {
                expected[r] += cols[(long)r * s + p];
                bound[r] += Math.Abs(cols[(long)r * s + p]);
            }
        // Accumulated in double, then rounded once to T.
        AssertClose(expected, ToDouble(sums), bound.Select((b, i) => Math.Max(b, Math.Abs(expected[i]))).ToArray(),
            typeof(T) == typeof(float) ? 1e-7 : 1e-14, $"unfold sums {name}");
    }

    [Fact]
    public void GramRejectsTooSmallStridesAndBuffers()
    {
        var g = Cases["n17-stride-pad"];
        var x = new double[g.InputLength];
        int k = (int)g.PatchSize;
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeKernels.UnfoldGram(g, x, 1.0, 0.0, true, new double[(k + 1) * (k + 1)], k));
        Assert.Throws<ArgumentException>(() => NativeKernels.UnfoldGram(g, x, 1.0, 0.0, false, new double[k * k - 1], k));
        Assert.Throws<ArgumentException>(() => NativeKernels.UnfoldGram(g, new double[g.InputLength - 1], 1.0, 0.0, false, new double[k * k], k));
        Assert.Throws<ArgumentException>(() => NativeKernels.UnfoldSum(g, x, new double[g.N * k + 1]));
        // The exact minimum extent (m - 1) * ldc + m is enough.
        NativeKernels.UnfoldGram(g, x, 1.0, 0.0, false, new double[(k - 1) * (k + 5) + k], k + 5);
    }

    private static T Cast<T>(double v) where T : unmanaged => As<T>([v])[0];
}
