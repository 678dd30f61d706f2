using System.Numerics;
using CurvNative.Autodiff;

namespace CurvNative.NN.Modules;

// Elementwise sin, cos and exp as layers: ONNX graphs exported from torch.sin/torch.cos/torch.exp in a
// module's forward (physics-informed networks use them as activations).

/// <summary>sin(x).</summary>
public sealed class Sin<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Sin(x);
}

/// <summary>cos(x).</summary>
public sealed class Cos<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Cos(x);
}

/// <summary>e^x.</summary>
public sealed class Exp<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Exp(x);
}
