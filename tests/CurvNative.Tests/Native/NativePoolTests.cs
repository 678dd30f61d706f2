using CurvNative.Native;
using Xunit;
using static CurvNative.Tests.Native.NativeTestUtil;

namespace CurvNative.Tests.Native;

public class NativePoolTests
{
    // name -> (n, c, h, w, kh, kw, sh, sw, ph, pw)
    private static readonly Dictionary<string, int[]> Cases = new()
    {
        ["batch0"] = [0, 2, 4, 4, 2, 2, 2, 2, 0, 0],
        ["image1x1"] = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        ["k2s2"] = [2, 3, 8, 8, 2, 2, 2, 2, 0, 0],
        ["odd17_k3_s2_p1"] = [2, 3, 17, 17, 3, 3, 2, 2, 1, 1],
        ["k3_s3_p1"] = [1, 3, 13, 13, 3, 3, 3, 3, 1, 1],
        ["x1025_k5_s1_p2"] = [1, 1, 25, 41, 5, 5, 1, 1, 2, 2],
        ["rect_kernel"] = [3, 2, 9, 7, 3, 2, 1, 2, 1, 1],
        ["overlapping_k3_s1"] = [1, 2, 6, 5, 3, 3, 1, 1, 0, 0],
    };

    public static IEnumerable<object[]> CaseNames => Cases.Keys.Select(k => new object[] { k });

    private static Pool2dGeometry Geometry(string name)
    {
        int[] c = Cases[name];
        return Pool2dGeometry.Create(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]);
    }

    private static void Check<T>(in Pool2dGeometry g, double[] x, string what) where T : unmanaged
    {
        var y = new T[g.OutputLength];
        var idx = Enumerable.Repeat(-7L, (int)g.OutputLength).ToArray();
        NativeKernels.MaxPool2dForward<T>(g, As<T>(x), y, idx);
        var (ry, ridx) = ConvReference.MaxPool(g, Round<T>(x));
        double[] dy = ToDouble(y);
        for (int i = 0; i < ry.Length; i++)
        {
            bool same = double.IsNaN(ry[i]) ? double.IsNaN(dy[i]) : ry[i] == dy[i];
            Assert.True(same, $"{what}: y[{i}] = {dy[i]} but the reference is {ry[i]}");
            Assert.True(ridx[i] == idx[i], $"{what}: argmax[{i}] = {idx[i]} but the reference is {ridx[i]}");
        }
    }

    [Theory, MemberData(nameof(CaseNames))]
    public void MaxPool_random_f64(string name) => Check<double>(Geometry(name), Random(Geometry(name).InputLength, name.Length), name);

    [Theory, MemberData(nameof(CaseNames))]
    public void MaxPool_random_f32(string name) => Check<float>(Geometry(name), Random(Geometry(name).InputLength, name.Length), name);

    /// <summary>Few distinct values: many ties, so first-max-wins is exercised; plus NaN and -inf.</summary>
    [Theory, MemberData(nameof(CaseNames))]
    public void MaxPool_ties_nan_and_negative_infinity(string name)
    {
        var g = Geometry(name);
        var rng = new Random(name.Length * 31);
        var x = new double[g.InputLength];
        for (int i = 0; i < x.Length; i++)
        {
            int r = rng.Next(12);
            x[i] = r switch { 0 => double.NaN, 1 => double.NegativeInfinity, _ => r % 3 };
        }
        Check<double>(g, x, name + " (f64)");
        Check<float>(g, x, name + " (f32)");
    }

    [Fact]
    public void MaxPool_hand_computed_example()
    {
        // 1x1x3x3, kernel 2, stride 1, no padding; two equal maxima in the last window: the first wins.
        var g = Pool2dGeometry.Create(1, 1, 3, 3, kernel: 2, stride: 1);
        double[] x = [1, 5, 2,
                      3, 4, 9,
                      0, 9, 9];
        var y = new double[4];
        var idx = new long[4];
        NativeKernels.MaxPool2dForward<double>(g, x, y, idx);
        Assert.Equal(new double[] { 5, 9, 9, 9 }, y);
        Assert.Equal(new long[] { 1, 5, 7, 5 }, idx);
    }

    [Fact]
    public void MaxPool_all_negative_infinity_window_indexes_a_real_element()
    {
        var g = Pool2dGeometry.Create(1, 1, 2, 2, kernel: 3, stride: 1, padding: 1);
        double[] x = [double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity];
        var y = new double[g.OutputLength];
        var idx = new long[g.OutputLength];
        NativeKernels.MaxPool2dForward<double>(g, x, y, idx);
        Assert.All(y, v => Assert.Equal(double.NegativeInfinity, v));
        Assert.All(idx, i => Assert.InRange(i, 0, 3));
    }

    [Fact]
    public void MaxPool_argmax_is_optional_and_indices_are_flat_over_the_batch()
    {
        var g = Pool2dGeometry.Create(2, 2, 2, 2, kernel: 2);
        double[] x = Enumerable.Range(0, 16).Select(i => (double)i).ToArray();
        var y = new double[g.OutputLength];
        NativeKernels.MaxPool2dForward<double>(g, x, y, Span<long>.Empty);
        Assert.Equal(new double[] { 3, 7, 11, 15 }, y);
        var idx = new long[4];
        NativeKernels.MaxPool2dForward<double>(g, x, y, idx);
        Assert.Equal(new long[] { 3, 7, 11, 15 }, idx);
    }
}
