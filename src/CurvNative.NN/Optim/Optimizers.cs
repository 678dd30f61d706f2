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

/// <summary>
/// Adam's moments over one flat vector, with torch.optim.Adam's arithmetic (Kingma and Ba 2015): m = b1 m + (1 - b1) g,
/// v = b2 v + (1 - b2) g^2, and the step theta -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps). Shared by
/// <see cref="Adam{T}"/> and the PINN trainer's Adam, which also checkpoints the moments.
/// </summary>
public sealed class AdamMoments
{
    private readonly double _beta1, _beta2, _eps;
    private double[] _m, _v;

    /// <summary>Zero moments for a vector of <paramref name="length"/> elements.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative length, betas outside [0, 1) or a non-positive eps.</exception>
    public AdamMoments(int length, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), $"beta1 must be in [0, 1), got {beta1}.");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), $"beta2 must be in [0, 1), got {beta2}.");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), $"eps must be positive, got {eps}.");
        (_beta1, _beta2, _eps) = (beta1, beta2, eps);
        _m = new double[length];
        _v = new double[length];
    }

    /// <summary>The elements.</summary>
    public int Length => _m.Length;

    /// <summary>t: the steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>A copy of the first moment m.</summary>
    public double[] FirstMoment => (double[])_m.Clone();

    /// <summary>A copy of the second moment v.</summary>
    public double[] SecondMoment => (double[])_v.Clone();

    /// <summary>
    /// Takes step t + 1 with gradient <paramref name="gradient"/>: updates the moments, writes
    /// m / (sqrt(v) / sqrt(1 - b2^t) + eps) to <paramref name="direction"/> and returns 1 / (1 - b1^t), the factor of
    /// the learning rate (theta -= lr * factor * direction).
    /// </summary>
    public double Advance(ReadOnlySpan<double> gradient, Span<double> direction)
    {
        if (gradient.Length != Length || direction.Length != Length)
            throw new ArgumentException($"Adam's moments have {Length} elements; got a gradient of {gradient.Length} and a direction of {direction.Length}.");
        Steps++;
        double c1 = 1 - Math.Pow(_beta1, Steps), sqrtC2 = Math.Sqrt(1 - Math.Pow(_beta2, Steps));
        for (int i = 0; i < gradient.Length; i++)
        {
            double g = gradient[i];
            _m[i] = _beta1 * _m[i] + (1 - _beta1) * g;
            _v[i] = _beta2 * _v[i] + (1 - _beta2) * g * g;
            direction[i] = _m[i] / (Math.Sqrt(_v[i]) / sqrtC2 + _eps);
        }
        return 1 / c1;
    }

    /// <summary>Restores moments and step count (a checkpoint).</summary>
    /// <exception cref="ArgumentException">Lengths other than <see cref="Length"/>, or a negative step count.</exception>
    public void Load(double[] firstMoment, double[] secondMoment, long steps)
    {
        ArgumentNullException.ThrowIfNull(firstMoment);
        ArgumentNullException.ThrowIfNull(secondMoment);
        if (firstMoment.Length != Length || secondMoment.Length != Length)
            throw new ArgumentException($"Adam's moments have {Length} elements; got {firstMoment.Length} and {secondMoment.Length}.");
        if (steps < 0) throw new ArgumentException($"The step count must not be negative, got {steps}.");
        _m = (double[])firstMoment.Clone();
        _v = (double[])secondMoment.Clone();
        Steps = steps;
    }
}

/// <summary>Adam as torch.optim.Adam (bias-corrected first and second moments; <see cref="AdamMoments"/>).</summary>
public sealed class Adam<T>(IReadOnlyList<Parameter<T>> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    : Optimizer<T>(parameters) where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly AdamMoments[] _moments = parameters.Select(p => new AdamMoments(p.Length, beta1, beta2, eps)).ToArray();

    protected override void StepCore(IReadOnlyList<Var<T>> gradients)
    {
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i].Value.Span;
            var g = new double[p.Length];
            TP.ConvertTruncating<T, double>(gradients[i].Value.Span, g);
            double scale = lr * _moments[i].Advance(g, g);
            for (int j = 0; j < p.Length; j++) p[j] -= T.CreateTruncating(scale * g[j]);
        }
    }
}
