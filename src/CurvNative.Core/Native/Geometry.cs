using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// Shape of a 2-D convolution (no dilation, no groups) over NCHW tensors, with PyTorch's output size
/// <c>Ho = (H + 2*PadH - KernelH) / StrideH + 1</c>. Build it with <see cref="Create(int,int,int,int,int,int,int,int)"/>,
/// which validates; the unfold/fold kernels ignore <see cref="OutChannels"/>.
/// </summary>
public readonly record struct Conv2dGeometry
{
    private Conv2dGeometry(int n, int inChannels, int height, int width, int outChannels, int kernelH, int kernelW,
        int strideH, int strideW, int padH, int padW, int outHeight, int outWidth)
    {
        N = n; InChannels = inChannels; Height = height; Width = width; OutChannels = outChannels;
        KernelH = kernelH; KernelW = kernelW; StrideH = strideH; StrideW = strideW; PadH = padH; PadW = padW;
        OutHeight = outHeight; OutWidth = outWidth;
    }

    /// <summary>Batch size (may be 0).</summary>
    public int N { get; }
    public int InChannels { get; }
    public int Height { get; }
    public int Width { get; }
    public int OutChannels { get; }
    public int KernelH { get; }
    public int KernelW { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    public int PadH { get; }
    public int PadW { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>Length of x: N*Cin*H*W.</summary>
    public long InputLength => (long)N * InChannels * Height * Width;
    /// <summary>Length of w: Cout*Cin*kh*kw.</summary>
    public long WeightLength => (long)OutChannels * InChannels * KernelH * KernelW;
    /// <summary>Length of y: N*Cout*Ho*Wo.</summary>
    public long OutputLength => (long)N * OutChannels * OutHeight * OutWidth;
    /// <summary>Rows of one image's unfolded matrix: Cin*kh*kw.</summary>
    public long PatchSize => (long)InChannels * KernelH * KernelW;
    /// <summary>Length of the unfold output: N*(Cin*kh*kw)*(Ho*Wo).</summary>
    public long ColumnsLength => N * PatchSize * OutHeight * OutWidth;

    /// <summary>Square kernel, equal stride and padding in both directions (PyTorch's Conv2d(k, stride, padding)).</summary>
    public static Conv2dGeometry Create(int n, int inChannels, int height, int width, int outChannels, int kernel,
        int stride = 1, int padding = 0)
        => Create(n, inChannels, height, width, outChannels, kernel, kernel, stride, stride, padding, padding);

    /// <summary>Validates the sizes and computes the output height and width.</summary>
    /// <exception cref="ArgumentException">A size is out of range or the kernel is larger than the padded input.</exception>
    public static Conv2dGeometry Create(int n, int inChannels, int height, int width, int outChannels,
        int kernelH, int kernelW, int strideH, int strideW, int padH, int padW)
    {
        GeometryChecks.AtLeast(n, 0, nameof(n), "batch size");
        GeometryChecks.AtLeast(inChannels, 1, nameof(inChannels), "input channel count");
        GeometryChecks.AtLeast(height, 1, nameof(height), "input height");
        GeometryChecks.AtLeast(width, 1, nameof(width), "input width");
        GeometryChecks.AtLeast(outChannels, 1, nameof(outChannels), "output channel count");
        GeometryChecks.AtLeast(kernelH, 1, nameof(kernelH), "kernel height");
        GeometryChecks.AtLeast(kernelW, 1, nameof(kernelW), "kernel width");
        GeometryChecks.AtLeast(strideH, 1, nameof(strideH), "stride");
        GeometryChecks.AtLeast(strideW, 1, nameof(strideW), "stride");
        GeometryChecks.AtLeast(padH, 0, nameof(padH), "padding");
        GeometryChecks.AtLeast(padW, 0, nameof(padW), "padding");
        int ho = GeometryChecks.OutputSize(height, kernelH, strideH, padH, "height", nameof(kernelH));
        int wo = GeometryChecks.OutputSize(width, kernelW, strideW, padW, "width", nameof(kernelW));
        GeometryChecks.Product("convolution", n, inChannels, height, width);
        GeometryChecks.Product("convolution", n, outChannels, ho, wo);
        GeometryChecks.Product("convolution", outChannels, inChannels, kernelH, kernelW);
        GeometryChecks.Product("convolution", n, inChannels, kernelH, kernelW, ho, wo);
        return new Conv2dGeometry(n, inChannels, height, width, outChannels, kernelH, kernelW, strideH, strideW,
            padH, padW, ho, wo);
    }

    /// <summary>The same geometry with another batch size.</summary>
    public Conv2dGeometry WithBatch(int n) => Create(n, InChannels, Height, Width, OutChannels, KernelH, KernelW,
        StrideH, StrideW, PadH, PadW);

    internal CnConv2dGeom ToNative() => new()
    {
        N = N, CIn = InChannels, H = Height, W = Width, COut = OutChannels, Kh = KernelH, Kw = KernelW,
        StrideH = StrideH, StrideW = StrideW, PadH = PadH, PadW = PadW, HOut = OutHeight, WOut = OutWidth,
    };
}

/// <summary>
/// Shape of a 2-D max-pooling (no dilation, floor mode) over NCHW tensors, validated as PyTorch's MaxPool2d
/// (padding at most half the kernel).
/// </summary>
public readonly record struct Pool2dGeometry
{
    private Pool2dGeometry(int n, int channels, int height, int width, int kernelH, int kernelW, int strideH,
        int strideW, int padH, int padW, int outHeight, int outWidth)
    {
        N = n; Channels = channels; Height = height; Width = width; KernelH = kernelH; KernelW = kernelW;
        StrideH = strideH; StrideW = strideW; PadH = padH; PadW = padW; OutHeight = outHeight; OutWidth = outWidth;
    }

    public int N { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int KernelH { get; }
    public int KernelW { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    public int PadH { get; }
    public int PadW { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>Length of x: N*C*H*W.</summary>
    public long InputLength => (long)N * Channels * Height * Width;
    /// <summary>Length of y and of the argmax array: N*C*Ho*Wo.</summary>
    public long OutputLength => (long)N * Channels * OutHeight * OutWidth;

    /// <summary>Square window; the stride defaults to the kernel size as in PyTorch's MaxPool2d.</summary>
    public static Pool2dGeometry Create(int n, int channels, int height, int width, int kernel, int? stride = null,
        int padding = 0)
        => Create(n, channels, height, width, kernel, kernel, stride ?? kernel, stride ?? kernel, padding, padding);

    /// <summary>Validates the sizes and computes the output height and width.</summary>
    /// <exception cref="ArgumentException">A size is out of range, the padding exceeds half the kernel or the
    /// kernel is larger than the padded input.</exception>
    public static Pool2dGeometry Create(int n, int channels, int height, int width, int kernelH, int kernelW,
        int strideH, int strideW, int padH, int padW)
    {
        GeometryChecks.AtLeast(n, 0, nameof(n), "batch size");
        GeometryChecks.AtLeast(channels, 1, nameof(channels), "channel count");
        GeometryChecks.AtLeast(height, 1, nameof(height), "input height");
        GeometryChecks.AtLeast(width, 1, nameof(width), "input width");
        GeometryChecks.AtLeast(kernelH, 1, nameof(kernelH), "kernel height");
        GeometryChecks.AtLeast(kernelW, 1, nameof(kernelW), "kernel width");
        GeometryChecks.AtLeast(strideH, 1, nameof(strideH), "stride");
        GeometryChecks.AtLeast(strideW, 1, nameof(strideW), "stride");
        GeometryChecks.AtLeast(padH, 0, nameof(padH), "padding");
        GeometryChecks.AtLeast(padW, 0, nameof(padW), "padding");
        if (padH > kernelH / 2)
            throw new ArgumentException($"padding {padH} must be at most half the kernel height {kernelH} for max-pooling.", nameof(padH));
        if (padW > kernelW / 2)
            throw new ArgumentException($"padding {padW} must be at most half the kernel width {kernelW} for max-pooling.", nameof(padW));
        int ho = GeometryChecks.OutputSize(height, kernelH, strideH, padH, "height", nameof(kernelH));
        int wo = GeometryChecks.OutputSize(width, kernelW, strideW, padW, "width", nameof(kernelW));
        GeometryChecks.Product("max-pooling", n, channels, height, width);
        GeometryChecks.Product("max-pooling", n, channels, ho, wo);
        return new Pool2dGeometry(n, channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, ho, wo);
    }

    internal CnPool2dGeom ToNative() => new()
    {
        N = N, C = Channels, H = Height, W = Width, Kh = KernelH, Kw = KernelW, StrideH = StrideH,
        StrideW = StrideW, PadH = PadH, PadW = PadW, HOut = OutHeight, WOut = OutWidth,
    };
}

internal static class GeometryChecks
{
    public static void AtLeast(int value, int min, string param, string what)
    {
        if (value < min)
            throw new ArgumentException($"{what} {param} must be >= {min} but got {value}.", param);
    }

    public static int OutputSize(int size, int kernel, int stride, int pad, string dim, string kernelParam)
    {
        long padded = size + 2L * pad;
        if (kernel > padded)
            throw new ArgumentException(
                $"kernel {dim} {kernel} is larger than the padded input {dim} {padded} ({dim} {size} + 2*padding {pad}).",
                kernelParam);
        return checked((int)((padded - kernel) / stride + 1));
    }

    // Every tensor must be addressable by a Span (int length).
    public static void Product(string what, params int[] sizes)
    {
        long p = 1;
        foreach (int s in sizes)
        {
            p *= s;
            if (p > int.MaxValue)
                throw new ArgumentException(
                    $"{what} geometry too large: a tensor of {string.Join('*', sizes)} elements exceeds {int.MaxValue}.");
        }
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct CnConv2dGeom
{
    public long N, CIn, H, W, COut, Kh, Kw, StrideH, StrideW, PadH, PadW, HOut, WOut;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CnPool2dGeom
{
    public long N, C, H, W, Kh, Kw, StrideH, StrideW, PadH, PadW, HOut, WOut;
}
