using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.NN.Modules;

/// <summary>2-D cross-correlation as PyTorch's nn.Conv2d with square kernels, zero padding,
/// weight [out, in, k, k] and bias [out]. Default init U(-1/sqrt(in k k), 1/sqrt(in k k)).</summary>
public sealed class Conv2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Conv2d(string name, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true, Random? rng = null)
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || stride < 1 || padding < 0)
            throw new ArgumentException($"Conv2d '{name}': invalid configuration in={inChannels} out={outChannels} k={kernelSize} stride={stride} padding={padding}.");
        rng ??= new Random(0);
        InChannels = inChannels; OutChannels = outChannels; KernelSize = kernelSize; Stride = stride; Padding = padding;
        var bound = T.One / T.Sqrt(T.CreateTruncating(inChannels * kernelSize * kernelSize));
        Weight = new Parameter<T>($"{name}.weight", Uniform(rng, bound, outChannels, inChannels, kernelSize, kernelSize));
        Bias = bias ? new Parameter<T>($"{name}.bias", Uniform(rng, bound, outChannels)) : null;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }
    public Parameter<T> Weight { get; }
    public Parameter<T>? Bias { get; }

    protected override IEnumerable<Parameter<T>> OwnParameters() => Bias is null ? [Weight] : [Weight, Bias];

    protected override Var<T> ForwardCore(Var<T> x)
    {
        CheckRank(x, 4, ToString(), "[N, C, H, W]");
        if (x.Shape[1] != InChannels)
            throw new ArgumentException($"{this} expects input [N, {InChannels}, H, W] but got {Shape.Format(x.Shape)}.");
        var y = F.Conv2d(x, Weight.Var, Stride, Padding);
        return Bias is null ? y : F.Add(y, F.Reshape(Bias.Var, 1, OutChannels, 1, 1));
    }

    public override string ToString() => $"Conv2d({InChannels} -> {OutChannels}, k={KernelSize}, stride={Stride}, padding={Padding}{(Bias is null ? ", no bias" : "")})";
}

/// <summary>Max pooling over k x k windows (no padding), PyTorch semantics.</summary>
public sealed class MaxPool2d<T>(int kernelSize, int? stride = null) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int KernelSize { get; } = kernelSize;
    public int Stride { get; } = stride ?? kernelSize;
    protected override Var<T> ForwardCore(Var<T> x) => F.MaxPool2d(x, KernelSize, Stride);
    public override string ToString() => $"MaxPool2d(k={KernelSize}, stride={Stride})";
}

/// <summary>Average pooling over k x k windows (no padding), PyTorch semantics.</summary>
public sealed class AvgPool2d<T>(int kernelSize, int? stride = null) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int KernelSize { get; } = kernelSize;
    public int Stride { get; } = stride ?? kernelSize;
    protected override Var<T> ForwardCore(Var<T> x) => F.AvgPool2d(x, KernelSize, Stride);
    public override string ToString() => $"AvgPool2d(k={KernelSize}, stride={Stride})";
}
