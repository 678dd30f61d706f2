using System.Numerics;
using CurvNative.Autodiff;

namespace CurvNative.NN.Modules;

/// <summary>Mean over the spatial axes, [N, C, H, W] to [N, C, 1, 1]: PyTorch's nn.AdaptiveAvgPool2d(1)
/// (ONNX GlobalAveragePool).</summary>
public sealed class GlobalAvgPool2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x)
    {
        CheckRank(x, 4, "GlobalAvgPool2d", "[N, C, H, W]");
        return F.Mean(x, [2, 3], keepDims: true);
    }
}
