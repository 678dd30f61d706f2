using CurvNative.Native;
using Xunit;

namespace CurvNative.Tests.Native;

public class NativeGeometryTests
{
    [Theory]
    [InlineData(32, 3, 1, 1, 32)]
    [InlineData(17, 3, 2, 0, 8)]
    [InlineData(17, 3, 2, 1, 9)]
    [InlineData(17, 5, 3, 2, 6)]
    [InlineData(1, 3, 1, 1, 1)]
    [InlineData(1, 1, 1, 0, 1)]
    [InlineData(4, 1, 1, 2, 8)]
    public void Conv_output_size_follows_pytorch(int size, int kernel, int stride, int pad, int expected)
    {
        var g = Conv2dGeometry.Create(2, 3, size, size, 4, kernel, stride, pad);
        Assert.Equal(expected, g.OutHeight);
        Assert.Equal(expected, g.OutWidth);
        Assert.Equal(0, NativeKernels.NativeCheck(g));
    }

    [Fact]
    public void Pool_stride_defaults_to_kernel()
    {
        var g = Pool2dGeometry.Create(1, 1, 7, 9, kernel: 2);
        Assert.Equal((2, 2, 3, 4), (g.StrideH, g.StrideW, g.OutHeight, g.OutWidth));
        Assert.Equal(0, NativeKernels.NativeCheck(g));
    }

    public static IEnumerable<object[]> BadConv =>
    [
        [() => Conv2dGeometry.Create(-1, 3, 8, 8, 4, 3), "batch size n must be >= 0 but got -1"],
        [() => Conv2dGeometry.Create(1, 0, 8, 8, 4, 3), "inChannels must be >= 1"],
        [() => Conv2dGeometry.Create(1, 3, 8, 8, 0, 3), "outChannels must be >= 1"],
        [() => Conv2dGeometry.Create(1, 3, 0, 8, 4, 3), "height must be >= 1"],
        [() => Conv2dGeometry.Create(1, 3, 8, 8, 4, 3, stride: 0), "stride strideH must be >= 1 but got 0"],
        [() => Conv2dGeometry.Create(1, 3, 8, 8, 4, 3, 3, 1, -2, 0, 0), "stride strideW must be >= 1 but got -2"],
        [() => Conv2dGeometry.Create(1, 3, 8, 8, 4, 3, padding: -1), "padding padH must be >= 0 but got -1"],
        [() => Conv2dGeometry.Create(1, 3, 4, 4, 4, 7, padding: 1), "kernel height 7 is larger than the padded input height 6"],
        [() => Conv2dGeometry.Create(1, 3, 8, 2, 4, 3, 5, 1, 1, 1, 1), "kernel width 5 is larger than the padded input width 4"],
        [() => Conv2dGeometry.Create(1, 3, 8, 8, 4, 0), "kernelH must be >= 1"],
        [() => Conv2dGeometry.Create(60000, 60000, 8, 8, 4, 1), "geometry too large"],
    ];

    [Theory, MemberData(nameof(BadConv))]
    public void Bad_conv_geometry_gives_a_clear_argument_exception(Func<Conv2dGeometry> create, string expected)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => create());
        Assert.Contains(expected, e.Message);
    }

    public static IEnumerable<object[]> BadPool =>
    [
        [() => Pool2dGeometry.Create(1, 1, 4, 4, kernel: 3, stride: 1, padding: 2), "padding 2 must be at most half the kernel height 3"],
        [() => Pool2dGeometry.Create(1, 1, 4, 4, kernel: 2, stride: 0), "stride strideH must be >= 1 but got 0"],
        [() => Pool2dGeometry.Create(1, 1, 2, 2, kernel: 5, stride: 1, padding: 1), "kernel height 5 is larger than the padded input height 4"],
        [() => Pool2dGeometry.Create(-3, 1, 2, 2, kernel: 1), "batch size n must be >= 0 but got -3"],
    ];

    [Theory, MemberData(nameof(BadPool))]
    public void Bad_pool_geometry_gives_a_clear_argument_exception(Func<Pool2dGeometry> create, string expected)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => create());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Wrong_span_length_names_the_span_and_the_formula()
    {
        var g = Conv2dGeometry.Create(1, 3, 32, 32, 16, 3, 1, 1);
        var e = Assert.Throws<ArgumentException>(() =>
            NativeKernels.Conv2dForward<float>(g, new float[100], new float[g.WeightLength], new float[g.OutputLength]));
        Assert.Contains("expected x of length N*Cin*H*W = 3072 but got 100", e.Message);
        Assert.Equal("x", e.ParamName);

        e = Assert.Throws<ArgumentException>(() =>
            NativeKernels.Conv2dWeightGrad<double>(g, new double[3072], new double[g.OutputLength], new double[5]));
        Assert.Contains("expected gw of length Cout*Cin*kh*kw = 432 but got 5", e.Message);

        var p = Pool2dGeometry.Create(1, 1, 4, 4, kernel: 2);
        e = Assert.Throws<ArgumentException>(() =>
            NativeKernels.MaxPool2dForward<float>(p, new float[16], new float[4], new long[3]));
        Assert.Contains("expected argmax of length N*C*Ho*Wo = 4 but got 3", e.Message);
    }

    [Fact]
    public void Overlapping_output_is_rejected()
    {
        var g = Conv2dGeometry.Create(1, 1, 4, 4, 1, 1);
        var buffer = new double[17];
        var e = Assert.Throws<ArgumentException>(() =>
            NativeKernels.Conv2dForward<double>(g, buffer.AsSpan(0, 16), buffer.AsSpan(16, 1), buffer.AsSpan(1, 16)));
        Assert.Contains("y must not overlap x", e.Message);
    }

    [Fact]
    public void Unsupported_element_type_is_rejected()
    {
        var g = Conv2dGeometry.Create(1, 1, 2, 2, 1, 1);
        Assert.Throws<NotSupportedException>(() =>
            NativeKernels.Conv2dForward<int>(g, new int[4], new int[1], new int[4]));
    }

    [Fact]
    public void Native_status_becomes_an_exception_with_the_native_message()
    {
        // default(Conv2dGeometry) bypasses the factory; the native side rejects it.
        var g = default(Conv2dGeometry);
        Assert.Equal(1, NativeKernels.NativeCheck(g));
        var e = Assert.Throws<NativeKernelException>(() =>
            NativeKernels.Conv2dForward<float>(g, [], [], []));
        Assert.Equal(1, e.Status);
        Assert.Equal("cn_conv2d_forward_f32", e.Function);
        Assert.Contains("invalid argument", e.Message);
    }

    [Fact]
    public void Native_library_reports_version_and_messages()
    {
        Assert.Equal(1, NativeKernels.Version);
        Assert.Equal("ok", NativeKernels.StatusMessage(0));
        Assert.Contains("out of memory", NativeKernels.StatusMessage(2));
        Assert.Contains("unknown", NativeKernels.StatusMessage(12345));
    }
}
