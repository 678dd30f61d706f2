using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// Bindings to libcurvnative.so (kernels/include/curvnative.h): convolution, unfold/fold and max-pooling on
/// dense row-major NCHW spans of float or double. Every wrapper checks span lengths against the geometry,
/// rejects outputs that overlap inputs, and turns a native status into an exception.
/// </summary>
internal static unsafe partial class NativeKernels
{
    private const string Lib = "curvnative";

    static NativeKernels() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(Lib, EntryPoint = "cn_version")] private static partial int cn_version();
    [LibraryImport(Lib, EntryPoint = "cn_status_message")] private static partial byte* cn_status_message(int status);
    [LibraryImport(Lib, EntryPoint = "cn_conv2d_check")] private static partial int cn_conv2d_check(CnConv2dGeom* g);
    [LibraryImport(Lib, EntryPoint = "cn_pool2d_check")] private static partial int cn_pool2d_check(CnPool2dGeom* g);

    [LibraryImport(Lib, EntryPoint = "cn_conv2d_forward_f32")] private static partial int ConvForwardF32(CnConv2dGeom* g, float* x, float* w, float* y);
    [LibraryImport(Lib, EntryPoint = "cn_conv2d_forward_f64")] private static partial int ConvForwardF64(CnConv2dGeom* g, double* x, double* w, double* y);
    [LibraryImport(Lib, EntryPoint = "cn_conv2d_input_grad_f32")] private static partial int ConvInputGradF32(CnConv2dGeom* g, float* gy, float* w, float* gx);
    [LibraryImport(Lib, EntryPoint = "cn_conv2d_input_grad_f64")] private static partial int ConvInputGradF64(CnConv2dGeom* g, double* gy, double* w, double* gx);
    [LibraryImport(Lib, EntryPoint = "cn_conv2d_weight_grad_f32")] private static partial int ConvWeightGradF32(CnConv2dGeom* g, float* x, float* gy, float* gw);
    [LibraryImport(Lib, EntryPoint = "cn_conv2d_weight_grad_f64")] private static partial int ConvWeightGradF64(CnConv2dGeom* g, double* x, double* gy, double* gw);
    [LibraryImport(Lib, EntryPoint = "cn_unfold_f32")] private static partial int UnfoldF32(CnConv2dGeom* g, float* x, float* cols);
    [LibraryImport(Lib, EntryPoint = "cn_unfold_f64")] private static partial int UnfoldF64(CnConv2dGeom* g, double* x, double* cols);
    [LibraryImport(Lib, EntryPoint = "cn_fold_f32")] private static partial int FoldF32(CnConv2dGeom* g, float* cols, float* x);
    [LibraryImport(Lib, EntryPoint = "cn_fold_f64")] private static partial int FoldF64(CnConv2dGeom* g, double* cols, double* x);
    [LibraryImport(Lib, EntryPoint = "cn_unfold_gram_f32")] private static partial int UnfoldGramF32(CnConv2dGeom* g, float* x, float alpha, float beta, int augment, float* c, long ldc);
    [LibraryImport(Lib, EntryPoint = "cn_unfold_gram_f64")] private static partial int UnfoldGramF64(CnConv2dGeom* g, double* x, double alpha, double beta, int augment, double* c, long ldc);
    [LibraryImport(Lib, EntryPoint = "cn_unfold_sum_f32")] private static partial int UnfoldSumF32(CnConv2dGeom* g, float* x, float* sums);
    [LibraryImport(Lib, EntryPoint = "cn_unfold_sum_f64")] private static partial int UnfoldSumF64(CnConv2dGeom* g, double* x, double* sums);
    [LibraryImport(Lib, EntryPoint = "cn_maxpool2d_forward_f32")] private static partial int MaxPoolF32(CnPool2dGeom* g, float* x, float* y, long* argmax);
    [LibraryImport(Lib, EntryPoint = "cn_maxpool2d_forward_f64")] private static partial int MaxPoolF64(CnPool2dGeom* g, double* x, double* y, long* argmax);

    /// <summary>ABI version reported by the loaded libcurvnative.so.</summary>
    public static int Version => cn_version();

    /// <summary>The native library's description of a status code.</summary>
    public static string StatusMessage(int status) =>
        Marshal.PtrToStringUTF8((IntPtr)cn_status_message(status)) ?? $"status {status}";

    /// <summary>y[N,Cout,Ho,Wo] = conv2d(x[N,Cin,H,W], w[Cout,Cin,kh,kw]) (cross-correlation, zero padding, no bias).</summary>
    public static void Conv2dForward<T>(in Conv2dGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, Span<T> y)
        where T : unmanaged
    {
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*Cin*H*W");
        SpanChecks.Length(w.Length, g.WeightLength, nameof(w), "Cout*Cin*kh*kw");
        SpanChecks.Length(y.Length, g.OutputLength, nameof(y), "N*Cout*Ho*Wo");
        SpanChecks.NoOverlap<T>(y, nameof(y), x, nameof(x), w, nameof(w));
        var ng = g.ToNative();
        fixed (T* px = x) fixed (T* pw = w) fixed (T* py = y)
        {
            if (typeof(T) == typeof(float))
                Check(ConvForwardF32(&ng, (float*)px, (float*)pw, (float*)py), "cn_conv2d_forward_f32");
            else if (typeof(T) == typeof(double))
                Check(ConvForwardF64(&ng, (double*)px, (double*)pw, (double*)py), "cn_conv2d_forward_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>gx[N,Cin,H,W] = gradient of &lt;conv2d(x, w), gy&gt; with respect to x (transposed convolution). Overwrites gx.</summary>
    public static void Conv2dInputGrad<T>(in Conv2dGeometry g, ReadOnlySpan<T> gy, ReadOnlySpan<T> w, Span<T> gx)
        where T : unmanaged
    {
        SpanChecks.Length(gy.Length, g.OutputLength, nameof(gy), "N*Cout*Ho*Wo");
        SpanChecks.Length(w.Length, g.WeightLength, nameof(w), "Cout*Cin*kh*kw");
        SpanChecks.Length(gx.Length, g.InputLength, nameof(gx), "N*Cin*H*W");
        SpanChecks.NoOverlap<T>(gx, nameof(gx), gy, nameof(gy), w, nameof(w));
        var ng = g.ToNative();
        fixed (T* pgy = gy) fixed (T* pw = w) fixed (T* pgx = gx)
        {
            if (typeof(T) == typeof(float))
                Check(ConvInputGradF32(&ng, (float*)pgy, (float*)pw, (float*)pgx), "cn_conv2d_input_grad_f32");
            else if (typeof(T) == typeof(double))
                Check(ConvInputGradF64(&ng, (double*)pgy, (double*)pw, (double*)pgx), "cn_conv2d_input_grad_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>gw[Cout,Cin,kh,kw] = gradient of &lt;conv2d(x, w), gy&gt; with respect to w, summed over the batch. Overwrites gw.</summary>
    public static void Conv2dWeightGrad<T>(in Conv2dGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> gy, Span<T> gw)
        where T : unmanaged
    {
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*Cin*H*W");
        SpanChecks.Length(gy.Length, g.OutputLength, nameof(gy), "N*Cout*Ho*Wo");
        SpanChecks.Length(gw.Length, g.WeightLength, nameof(gw), "Cout*Cin*kh*kw");
        SpanChecks.NoOverlap<T>(gw, nameof(gw), x, nameof(x), gy, nameof(gy));
        var ng = g.ToNative();
        fixed (T* px = x) fixed (T* pgy = gy) fixed (T* pgw = gw)
        {
            if (typeof(T) == typeof(float))
                Check(ConvWeightGradF32(&ng, (float*)px, (float*)pgy, (float*)pgw), "cn_conv2d_weight_grad_f32");
            else if (typeof(T) == typeof(double))
                Check(ConvWeightGradF64(&ng, (double*)px, (double*)pgy, (double*)pgw), "cn_conv2d_weight_grad_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>cols[N, Cin*kh*kw, Ho*Wo] = torch.nn.functional.unfold(x) (rows ordered (c, i, j)). OutChannels is ignored.</summary>
    public static void Unfold<T>(in Conv2dGeometry g, ReadOnlySpan<T> x, Span<T> cols) where T : unmanaged
    {
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*Cin*H*W");
        SpanChecks.Length(cols.Length, g.ColumnsLength, nameof(cols), "N*Cin*kh*kw*Ho*Wo");
        SpanChecks.NoOverlap<T>(cols, nameof(cols), x, nameof(x), default, "");
        var ng = g.ToNative();
        fixed (T* px = x) fixed (T* pc = cols)
        {
            if (typeof(T) == typeof(float)) Check(UnfoldF32(&ng, (float*)px, (float*)pc), "cn_unfold_f32");
            else if (typeof(T) == typeof(double)) Check(UnfoldF64(&ng, (double*)px, (double*)pc), "cn_unfold_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>x[N,Cin,H,W] = adjoint of <see cref="Unfold{T}"/> (torch.nn.functional.fold: overlaps summed). Overwrites x.</summary>
    public static void Fold<T>(in Conv2dGeometry g, ReadOnlySpan<T> cols, Span<T> x) where T : unmanaged
    {
        SpanChecks.Length(cols.Length, g.ColumnsLength, nameof(cols), "N*Cin*kh*kw*Ho*Wo");
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*Cin*H*W");
        SpanChecks.NoOverlap<T>(x, nameof(x), cols, nameof(cols), default, "");
        var ng = g.ToNative();
        fixed (T* pc = cols) fixed (T* px = x)
        {
            if (typeof(T) == typeof(float)) Check(FoldF32(&ng, (float*)pc, (float*)px), "cn_fold_f32");
            else if (typeof(T) == typeof(double)) Check(FoldF64(&ng, (double*)pc, (double*)px), "cn_fold_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>
    /// KFAC's convolution input factor without materialising the unfolded input: the upper triangle of
    /// c[m, m] (row stride <paramref name="ldc"/>) becomes beta c + alpha sum_n V_n V_n^T, V_n = unfold(x_n)
    /// [K, Ho*Wo], with a row of ones appended when <paramref name="augment"/> (m = K + 1: column K gets the
    /// patch sums, c[K, K] the count N*Ho*Wo). The strict lower triangle is untouched; beta = 0 overwrites.
    /// </summary>
    public static void UnfoldGram<T>(in Conv2dGeometry g, ReadOnlySpan<T> x, T alpha, T beta, bool augment, Span<T> c, int ldc)
        where T : unmanaged
    {
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*Cin*H*W");
        long m = g.PatchSize + (augment ? 1 : 0);
        if (ldc < m) throw new ArgumentOutOfRangeException(nameof(ldc), $"ldc = {ldc} is below the factor's dimension {m}.");
        long need = (m - 1) * ldc + m;
        if (c.Length < need) throw new ArgumentException($"c has {c.Length} elements; a [{m}, {m}] matrix with row stride {ldc} needs {need}.", nameof(c));
        SpanChecks.NoOverlap<T>(c, nameof(c), x, nameof(x), default, "");
        var ng = g.ToNative();
        fixed (T* px = x) fixed (T* pc = c)
        {
            if (typeof(T) == typeof(float))
                Check(UnfoldGramF32(&ng, (float*)px, Unsafe.As<T, float>(ref alpha), Unsafe.As<T, float>(ref beta), augment ? 1 : 0, (float*)pc, ldc), "cn_unfold_gram_f32");
            else if (typeof(T) == typeof(double))
                Check(UnfoldGramF64(&ng, (double*)px, Unsafe.As<T, double>(ref alpha), Unsafe.As<T, double>(ref beta), augment ? 1 : 0, (double*)pc, ldc), "cn_unfold_gram_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>sums[N, K] = the row sums of each image's unfolded patches (sum over the Ho*Wo positions). Overwrites sums.</summary>
    public static void UnfoldSum<T>(in Conv2dGeometry g, ReadOnlySpan<T> x, Span<T> sums) where T : unmanaged
    {
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*Cin*H*W");
        SpanChecks.Length(sums.Length, (long)g.N * g.PatchSize, nameof(sums), "N*Cin*kh*kw");
        SpanChecks.NoOverlap<T>(sums, nameof(sums), x, nameof(x), default, "");
        var ng = g.ToNative();
        fixed (T* px = x) fixed (T* ps = sums)
        {
            if (typeof(T) == typeof(float)) Check(UnfoldSumF32(&ng, (float*)px, (float*)ps), "cn_unfold_sum_f32");
            else if (typeof(T) == typeof(double)) Check(UnfoldSumF64(&ng, (double*)px, (double*)ps), "cn_unfold_sum_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>
    /// y[N,C,Ho,Wo] = window maxima of x; argmax[i] = flat index into the whole of x (not per plane as PyTorch)
    /// of the element chosen for y[i]. Padding is -inf, ties keep the first element, NaN propagates
    /// (the last NaN of the window is indexed, as PyTorch's CPU kernel does). Pass an empty argmax to skip
    /// the indices; otherwise it must have y's length.
    /// </summary>
    public static void MaxPool2dForward<T>(in Pool2dGeometry g, ReadOnlySpan<T> x, Span<T> y, Span<long> argmax)
        where T : unmanaged
    {
        SpanChecks.Length(x.Length, g.InputLength, nameof(x), "N*C*H*W");
        SpanChecks.Length(y.Length, g.OutputLength, nameof(y), "N*C*Ho*Wo");
        bool wantIndex = !argmax.IsEmpty;
        if (wantIndex) SpanChecks.Length(argmax.Length, g.OutputLength, nameof(argmax), "N*C*Ho*Wo");
        SpanChecks.NoOverlap<T>(y, nameof(y), x, nameof(x), default, "");
        if (wantIndex && SpanChecks.Overlap(MemoryMarshal.AsBytes(argmax), MemoryMarshal.AsBytes(x), MemoryMarshal.AsBytes(y)))
            throw new ArgumentException("argmax must not overlap x or y.", nameof(argmax));
        var ng = g.ToNative();
        fixed (T* px = x) fixed (T* py = y) fixed (long* pi = argmax)
        {
            long* idx = wantIndex ? pi : null;
            if (typeof(T) == typeof(float)) Check(MaxPoolF32(&ng, (float*)px, (float*)py, idx), "cn_maxpool2d_forward_f32");
            else if (typeof(T) == typeof(double)) Check(MaxPoolF64(&ng, (double*)px, (double*)py, idx), "cn_maxpool2d_forward_f64");
            else throw Unsupported<T>();
        }
    }

    /// <summary>Asks the native library whether it accepts the geometry (0 = ok); used to keep both validators in step.</summary>
    public static int NativeCheck(in Conv2dGeometry g)
    {
        var ng = g.ToNative();
        return cn_conv2d_check(&ng);
    }

    /// <inheritdoc cref="NativeCheck(in Conv2dGeometry)"/>
    public static int NativeCheck(in Pool2dGeometry g)
    {
        var ng = g.ToNative();
        return cn_pool2d_check(&ng);
    }

    private static void Check(int status, string function)
    {
        if (status == 0) return;
        string message = $"{function} failed with status {status}: {StatusMessage(status)}.";
        if (status == 2) throw new OutOfMemoryException(message);
        throw new NativeKernelException(function, status, message);
    }

    private static NotSupportedException Unsupported<T>() =>
        new($"Native kernels support float and double, not {typeof(T).Name}.");
}
