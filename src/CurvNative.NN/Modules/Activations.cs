using System.Numerics;
using CurvNative.Autodiff;

namespace CurvNative.NN.Modules;

/// <summary>max(x, 0).</summary>
public sealed class ReLU<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Relu(x);
}

/// <summary>tanh(x).</summary>
public sealed class Tanh<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Tanh(x);
}

/// <summary>1 / (1 + e^-x).</summary>
public sealed class Sigmoid<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Sigmoid(x);
}

/// <summary>GELU, exact erf form: x/2 (1 + erf(x / sqrt 2)) (PyTorch's default approximate='none').</summary>
public sealed class GELU<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x)
    {
        var half = T.CreateTruncating(0.5);
        var erf = F.Erf(F.Scale(x, T.CreateTruncating(0.70710678118654752440)));
        return F.Mul(F.Scale(x, half), F.AddScalar(erf, T.One));
    }
}

/// <summary>log(1 + e^x) (beta 1, PyTorch's threshold 20 switches to x; the stable form agrees to rounding).</summary>
public sealed class Softplus<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x) => F.Softplus(x);
}

/// <summary>Flattens all axes after the first: [N, ...] to [N, prod(...)].</summary>
public sealed class Flatten<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Var<T> ForwardCore(Var<T> x)
    {
        if (x.Rank < 1) throw new ArgumentException("Flatten expects a batch axis, got a scalar.");
        int inner = 1;
        for (int i = 1; i < x.Rank; i++) inner *= x.Shape[i];
        return F.Reshape(x, x.Shape[0], inner);
    }
}

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
