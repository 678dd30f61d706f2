using CurvNative.Native;
using Xunit;
using static CurvNative.Tests.Native.NativeTestUtil;

namespace CurvNative.Tests.Native;

/// <summary>Convolution, unfold and fold kernels against the loop reference, in float64 and float32.</summary>
public class NativeConvTests
{
    // name -> (n, cin, h, w, cout, kh, kw, sh, sw, ph, pw)
    private static readonly Dictionary<string, int[]> Cases = new()
    {
        ["batch0"] = [0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1],
        ["image1x1_k1"] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        ["image1x1_k3_pad1"] = [1, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1],
        ["odd17_stride2"] = [2, 3, 17, 17, 5, 3, 3, 2, 2, 1, 1],
        ["k5_stride3_pad2"] = [3, 2, 17, 13, 4, 5, 5, 3, 3, 2, 2],
        ["pointwise_small"] = [2, 4, 9, 11, 3, 1, 1, 1, 1, 0, 0],
        ["pointwise_fastpath"] = [2, 3, 20, 20, 5, 1, 1, 1, 1, 0, 0],
        ["x1025"] = [1, 1, 25, 41, 2, 3, 3, 1, 1, 1, 1],
        ["rect_kernel_mixed_stride"] = [5, 3, 8, 6, 7, 3, 5, 1, 2, 0, 2],
        ["chunked_batch"] = [4, 16, 12, 12, 8, 3, 3, 1, 1, 1, 1],
        ["chunks_with_remainder"] = [7, 2, 20, 20, 3, 3, 3, 1, 1, 1, 1],
        ["one_image_per_gemm"] = [2, 3, 32, 40, 4, 3, 3, 1, 1, 1, 1],
        ["kernel_equals_padded_input"] = [2, 2, 3, 3, 2, 5, 5, 1, 1, 1, 1],
        ["stride_larger_than_kernel"] = [2, 2, 10, 10, 3, 2, 2, 3, 3, 0, 0],
        ["padding_larger_than_kernel"] = [1, 1, 4, 4, 1, 1, 1, 1, 1, 2, 2],
        ["batch1_k5_pad0"] = [1, 3, 9, 9, 2, 5, 5, 1, 1, 0, 0],
        // Enough work for the threaded path: chunks split between threads, partial weight gradients summed.
        ["threaded_batched_chunks"] = [5, 8, 16, 16, 16, 3, 3, 1, 1, 1, 1],
        ["threaded_image_chunks"] = [3, 4, 32, 33, 12, 3, 3, 1, 1, 1, 1],
        ["threaded_pointwise"] = [4, 16, 32, 32, 16, 1, 1, 1, 1, 0, 0],
    };

    public static IEnumerable<object[]> CaseNames => Cases.Keys.Select(k => new object[] { k });

    private static Conv2dGeometry Geometry(string name)
    {
        int[] c = Cases[name];
        return Conv2dGeometry.Create(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
    }

    private static int Seed(string name, int k) => HashCode.Combine(name.Length, name[0], name[^1], k) & 0x7fffffff;

    // ---------------------------------------------------------------------------------------------

    internal static void ForwardCase<T>(string name) where T : unmanaged
    {
        var g = Geometry(name);
        double[] x = Round<T>(Random(g.InputLength, Seed(name, 1))), w = Round<T>(Random(g.WeightLength, Seed(name, 2)));
        var y = new T[g.OutputLength];
        NativeKernels.Conv2dForward<T>(g, As<T>(x), As<T>(w), y);
        AssertClose(ConvReference.Forward(g, x, w), ToDouble(y), ConvReference.Forward(g, Abs(x), Abs(w)), Tolerance<T>(), $"forward {name}");
    }

    private static void InputGradCase<T>(string name) where T : unmanaged
    {
        var g = Geometry(name);
        double[] gy = Round<T>(Random(g.OutputLength, Seed(name, 3))), w = Round<T>(Random(g.WeightLength, Seed(name, 2)));
        var gx = As<T>(Enumerable.Repeat(7.0, (int)g.InputLength).ToArray()); // must be overwritten
        NativeKernels.Conv2dInputGrad<T>(g, As<T>(gy), As<T>(w), gx);
        AssertClose(ConvReference.InputGrad(g, gy, w), ToDouble(gx), ConvReference.InputGrad(g, Abs(gy), Abs(w)), Tolerance<T>(), $"input grad {name}");
    }

    internal static void WeightGradCase<T>(string name) where T : unmanaged
    {
        var g = Geometry(name);
        double[] x = Round<T>(Random(g.InputLength, Seed(name, 1))), gy = Round<T>(Random(g.OutputLength, Seed(name, 3)));
        var gw = As<T>(Enumerable.Repeat(7.0, (int)g.WeightLength).ToArray()); // must be overwritten
        NativeKernels.Conv2dWeightGrad<T>(g, As<T>(x), As<T>(gy), gw);
        AssertClose(ConvReference.WeightGrad(g, x, gy), ToDouble(gw), ConvReference.WeightGrad(g, Abs(x), Abs(gy)), Tolerance<T>(), $"weight grad {name}");
    }

    private static void UnfoldCase<T>(string name) where T : unmanaged
    {
        var g = Geometry(name);
        double[] x = Round<T>(Random(g.InputLength, Seed(name, 1)));
        var cols = As<T>(Enumerable.Repeat(7.0, (int)g.ColumnsLength).ToArray());
        NativeKernels.Unfold<T>(g, As<T>(x), cols);
        // Unfold is a pure copy: exact.
        Assert.Equal(ConvReference.Unfold(g, x), ToDouble(cols));
    }

    private static void FoldCase<T>(string name) where T : unmanaged
    {
        var g = Geometry(name);
        double[] cols = Round<T>(Random(g.ColumnsLength, Seed(name, 4)));
        var x = As<T>(Enumerable.Repeat(7.0, (int)g.InputLength).ToArray());
        NativeKernels.Fold<T>(g, As<T>(cols), x);
        AssertClose(ConvReference.Fold(g, cols), ToDouble(x), ConvReference.Fold(g, Abs(cols)), Tolerance<T>(), $"fold {name}");
    }

    [Theory, MemberData(nameof(CaseNames))] public void Forward_f64(string name) => ForwardCase<double>(name);
    [Theory, MemberData(nameof(CaseNames))] public void Forward_f32(string name) => ForwardCase<float>(name);
    [Theory, MemberData(nameof(CaseNames))] public void InputGrad_f64(string name) => InputGradCase<double>(name);
    [Theory, MemberData(nameof(CaseNames))] public void InputGrad_f32(string name) => InputGradCase<float>(name);
    [Theory, MemberData(nameof(CaseNames))] public void WeightGrad_f64(string name) => WeightGradCase<double>(name);
    [Theory, MemberData(nameof(CaseNames))] public void WeightGrad_f32(string name) => WeightGradCase<float>(name);
    [Theory, MemberData(nameof(CaseNames))] public void Unfold_f64(string name) => UnfoldCase<double>(name);
    [Theory, MemberData(nameof(CaseNames))] public void Unfold_f32(string name) => UnfoldCase<float>(name);
    [Theory, MemberData(nameof(CaseNames))] public void Fold_f64(string name) => FoldCase<double>(name);
    [Theory, MemberData(nameof(CaseNames))] public void Fold_f32(string name) => FoldCase<float>(name);

    /// <summary>&lt;conv(x,w), gy&gt; = &lt;x, input_grad(gy,w)&gt; = &lt;w, weight_grad(x,gy)&gt; using only native results.</summary>
    [Theory, MemberData(nameof(CaseNames))]
    public void Conv_adjoint_identities_f64(string name)
    {
        var g = Geometry(name);
        double[] x = Random(g.InputLength, Seed(name, 5)), w = Random(g.WeightLength, Seed(name, 6));
        double[] gy = Random(g.OutputLength, Seed(name, 7));
        var y = new double[g.OutputLength];
        var gx = new double[g.InputLength];
        var gw = new double[g.WeightLength];
        NativeKernels.Conv2dForward<double>(g, x, w, y);
        NativeKernels.Conv2dInputGrad<double>(g, gy, w, gx);
        NativeKernels.Conv2dWeightGrad<double>(g, x, gy, gw);
        double lhs = Dot(y, gy), viaX = Dot(x, gx), viaW = Dot(w, gw);
        // Scale: the sum of |terms| of the full triple sum is bounded by this product of sums.
        double scale = Math.Max(AbsDot(y, gy) + AbsDot(x, gx) + AbsDot(w, gw), 1e-300);
        Assert.True(Math.Abs(lhs - viaX) <= 1e-12 * scale, $"<conv(x,w),gy> = {lhs:R} but <x,input_grad> = {viaX:R}");
        Assert.True(Math.Abs(lhs - viaW) <= 1e-12 * scale, $"<conv(x,w),gy> = {lhs:R} but <w,weight_grad> = {viaW:R}");
        if (g.N > 0) Assert.True(scale > 1e-200, "degenerate case: nothing was compared");
    }

    [Theory, MemberData(nameof(CaseNames))]
    public void Unfold_fold_adjoint_f64(string name)
    {
        var g = Geometry(name);
        double[] x = Random(g.InputLength, Seed(name, 8)), c = Random(g.ColumnsLength, Seed(name, 9));
        var ux = new double[g.ColumnsLength];
        var fc = new double[g.InputLength];
        NativeKernels.Unfold<double>(g, x, ux);
        NativeKernels.Fold<double>(g, c, fc);
        double a = Dot(ux, c), b = Dot(x, fc);
        double scale = Math.Max(AbsDot(ux, c) + AbsDot(x, fc), 1e-300);
        Assert.True(Math.Abs(a - b) <= 1e-12 * scale, $"<unfold(x),c> = {a:R} but <x,fold(c)> = {b:R}");
    }

    [Fact]
    public void Conv_adjoint_identity_f32_on_benchmark_layer()
    {
        // Conv2d(16, 32, 3, padding=1) on a batch of 3 32x32 maps: the shape the benchmark uses.
        var g = Conv2dGeometry.Create(3, 16, 32, 32, 32, kernel: 3, stride: 1, padding: 1);
        double[] x = Round<float>(Random(g.InputLength, 11)), w = Round<float>(Random(g.WeightLength, 12));
        double[] gy = Round<float>(Random(g.OutputLength, 13));
        var y = new float[g.OutputLength];
        var gx = new float[g.InputLength];
        var gw = new float[g.WeightLength];
        NativeKernels.Conv2dForward<float>(g, As<float>(x), As<float>(w), y);
        NativeKernels.Conv2dInputGrad<float>(g, As<float>(gy), As<float>(w), gx);
        NativeKernels.Conv2dWeightGrad<float>(g, As<float>(x), As<float>(gy), gw);
        double lhs = Dot(ToDouble(y), gy), viaX = Dot(x, ToDouble(gx)), viaW = Dot(w, ToDouble(gw));
        double scale = AbsDot(ToDouble(y), gy);
        Assert.True(Math.Abs(lhs - viaX) <= 1e-5 * scale, $"{lhs} vs {viaX}");
        Assert.True(Math.Abs(lhs - viaW) <= 1e-5 * scale, $"{lhs} vs {viaW}");
    }

    [Fact]
    public void Unfold_matches_a_hand_computed_torch_layout()
    {
        // x = [[1,2,3],[4,5,6]] (1x1x2x3), kernel 2x2, no padding: torch.nn.functional.unfold gives
        // rows (k1,k2) = (0,0),(0,1),(1,0),(1,1) over the two output positions.
        var g = Conv2dGeometry.Create(1, 1, 2, 3, 1, 2, 2, 1, 1, 0, 0);
        var cols = new double[g.ColumnsLength];
        NativeKernels.Unfold<double>(g, new double[] { 1, 2, 3, 4, 5, 6 }, cols);
        Assert.Equal(new double[] { 1, 2, 2, 3, 4, 5, 5, 6 }, cols);
    }

    [Fact]
    public void Repeated_calls_with_changing_shapes_reuse_scratch_correctly()
    {
        foreach (string name in new[] { "one_image_per_gemm", "chunked_batch", "x1025", "chunked_batch", "batch0" })
        {
            ForwardCase<float>(name);
            WeightGradCase<double>(name);
        }
    }


    [Fact]
    public async Task Concurrent_callers_get_correct_results()
    {
        var tasks = Enumerable.Range(0, 4).Select(i => Task.Run(() =>
        {
            for (int r = 0; r < 3; r++)
            {
                ForwardCase<double>(i % 2 == 0 ? "chunks_with_remainder" : "threaded_batched_chunks");
                InputGradCase<float>(i % 2 == 0 ? "chunked_batch" : "threaded_image_chunks");
                WeightGradCase<float>("threaded_pointwise");
            }
        }));
        await Task.WhenAll(tasks);
    }
}

/// <summary>OpenBLAS's thread count is process-wide, and serial sections elsewhere (eigendecompositions, parallel
/// batches) change it while they run: this check runs alone, in the thread-settings collection.</summary>
[Collection("ThreadSettings")]
public class NativeConvThreadCountTests
{
    [System.Runtime.InteropServices.DllImport("libopenblas.so.0")]
    private static extern int openblas_get_num_threads();

    [Fact]
    public void Threaded_kernels_restore_the_OpenBLAS_thread_count()
    {
        int before = openblas_get_num_threads();
        NativeConvTests.ForwardCase<float>("threaded_image_chunks");
        NativeConvTests.WeightGradCase<double>("threaded_batched_chunks");
        Assert.Equal(before, openblas_get_num_threads());
    }
}
