using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace CurvNative.NN.Optim;

/// <summary>Updates parameters in place from their gradients (same order as the parameter list).</summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected Optimizer(IReadOnlyList<Parameter<T>> parameters) => Parameters = parameters;

    public IReadOnlyList<Parameter<T>> Parameters { get; }

    public void Step(IReadOnlyList<Var<T>> gradients)
    {
        if (gradients.Count != Parameters.Count)
            throw new ArgumentException($"Expected {Parameters.Count} gradients (one per parameter) but got {gradients.Count}.");
        for (int i = 0; i < Parameters.Count; i++)
            Tensors.Shape.CheckEqual(Parameters[i].Shape, gradients[i].Shape, $"Gradient of {Parameters[i].Name}");
        StepCore(gradients);
    }

    protected abstract void StepCore(IReadOnlyList<Var<T>> gradients);
}

/// <summary>SGD with momentum as torch.optim.SGD: b = mu b + g; p -= lr b.</summary>
public sealed class Sgd<T>(IReadOnlyList<Parameter<T>> parameters, double lr, double momentum = 0) : Optimizer<T>(parameters)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] _buffers = parameters.Select(p => new T[p.Length]).ToArray();

    protected override void StepCore(IReadOnlyList<Var<T>> gradients)
    {
        T mu = T.CreateTruncating(momentum), rate = T.CreateTruncating(lr);
        for (int i = 0; i < Parameters.Count; i++)
        {
            var b = _buffers[i].AsSpan();
            TP.Multiply(b, mu, b);
            TP.Add(b, gradients[i].Value.Span, b);
            var p = Parameters[i].Value.Span;
            for (int j = 0; j < p.Length; j++) p[j] -= rate * b[j];
        }
    }
}

/// <summary>Adam as torch.optim.Adam (bias-corrected first and second moments).</summary>
public sealed class Adam<T>(IReadOnlyList<Parameter<T>> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    : Optimizer<T>(parameters) where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double[][] _m = parameters.Select(p => new double[p.Length]).ToArray();
    private readonly double[][] _v = parameters.Select(p => new double[p.Length]).ToArray();
    private int _t;

    protected override void StepCore(IReadOnlyList<Var<T>> gradients)
    {
        _t++;
        double c1 = 1 - Math.Pow(beta1, _t), c2 = 1 - Math.Pow(beta2, _t);
        for (int i = 0; i < Parameters.Count; i++)
        {
            var g = gradients[i].Value.Span; var p = Parameters[i].Value.Span;
            var m = _m[i]; var v = _v[i];
            for (int j = 0; j < p.Length; j++)
            {
                double gj = double.CreateTruncating(g[j]);
                m[j] = beta1 * m[j] + (1 - beta1) * gj;
                v[j] = beta2 * v[j] + (1 - beta2) * gj * gj;
                p[j] -= T.CreateTruncating(lr * (m[j] / c1) / (Math.Sqrt(v[j] / c2) + eps));
            }
        }
    }
}
