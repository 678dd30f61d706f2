using System.Numerics;
using CurvNative.Native;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>
/// Accumulates KFAC's Kronecker factors per layer: the input covariance
/// A = 1/(N S) sum_rows a a^T (N samples, S shared positions per sample) and the output-gradient
/// covariance G = sum_rows s g g^T with a caller-chosen scale s. Fed by <see cref="KfacOperator{T}"/>
/// from its own passes over the data, or by a user's training loop through <see cref="Attach"/>
/// (no extra forward or backward pass).
/// </summary>
public sealed class KfacFactorAccumulator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<KfacLayer<T>, State> _states = new(ReferenceEqualityComparer.Instance);

    private sealed class State(int din, int dout)
    {
        public readonly Tensor<T> A = Tensor<T>.Zeros(din, din);
        public readonly Tensor<T> G = Tensor<T>.Zeros(dout, dout);
        public long Samples;
        public int Shared = -1;
        public long GradientRows;
    }

    public KfacFactorAccumulator(IReadOnlyList<KfacLayer<T>> layers, KfacApproximation approximation)
    {
        Layers = layers; Approximation = approximation;
        foreach (var l in layers) _states[l] = new State(l.FactorInDim, l.OutDim);
    }

    public IReadOnlyList<KfacLayer<T>> Layers { get; }
    public KfacApproximation Approximation { get; }

    private State StateOf(KfacLayer<T> layer)
        => _states.TryGetValue(layer, out var s) ? s : throw new ArgumentException($"Layer {layer} is not one of this accumulator's layers.");

    /// <summary>Adds a batch of layer inputs (Linear: [n, ..., in]; Conv2d: [n, C, H, W]).</summary>
    public void AddInput(KfacLayer<T> layer, Tensor<T> input)
    {
        var s = StateOf(layer);
        var (rows, shared) = layer.InputRows(input, Approximation);
        if (s.Shared >= 0 && s.Shared != shared)
            throw new ArgumentException($"Layer {layer}: inputs with {shared} shared positions after batches with {s.Shared}; the spatial size must not change.");
        s.Shared = shared;
        AddGram(rows, T.One, s.A);
        s.Samples += input.Shape[0];
    }

    /// <summary>Adds scale * sum_rows g g^T for a batch of gradients with respect to the layer's output.</summary>
    public void AddOutputGradient(KfacLayer<T> layer, Tensor<T> gradOutput, T scale)
    {
        var s = StateOf(layer);
        var rows = layer.GradientRows(gradOutput, Approximation);
        AddGram(rows, scale, s.G);
        s.GradientRows += rows.Shape[0];
    }

    /// <summary>Sets G to the identity (forward-only KFAC).</summary>
    internal void SetGradientIdentity(KfacLayer<T> layer)
    {
        var g = StateOf(layer).G;
        g.Span.Clear();
        for (int i = 0; i < layer.OutDim; i++) g.Span[i * layer.OutDim + i] = T.One;
    }

    /// <summary>C += scale * R^T R for rows R [r, d], upper triangle only (SYRK: half a GEMM); the
    /// lower triangle is filled from it when the factors are read.</summary>
    private static void AddGram(Tensor<T> rows, T scale, Tensor<T> c)
        => Blas.SyrkTransposed(rows.Shape[1], rows.Shape[0], scale, rows.Span, T.One, c.Span);

    private static Tensor<T> Symmetrized(Tensor<T> upper)
    {
        int n = upper.Shape[0];
        var m = upper.Clone();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) m.Span[i * n + j] = m.Span[j * n + i];
        return m;
    }

    /// <summary>The factors (A normalised by 1/(N S), G as accumulated). Copies.</summary>
    public (Tensor<T> A, Tensor<T> G) Factors(KfacLayer<T> layer)
    {
        var s = StateOf(layer);
        if (s.Samples == 0) throw new InvalidOperationException($"Layer {layer} received no inputs: was it used in the forward passes?");
        var a = TensorOps.Affine(Symmetrized(s.A), T.One / T.CreateTruncating((double)s.Samples * Math.Max(1, s.Shared)), T.Zero);
        return (a, Symmetrized(s.G));
    }

    /// <summary>
    /// Subscribes to the layers' forward and backward hooks so that a training loop's own passes
    /// feed the factors. <paramref name="gradientScale"/> maps the batch size to the scale of each
    /// g g^T: for the empirical Fisher of a loss with reduction factor c_b on a batch and c over the whole data set,
    /// the hooks see c_b e_n, so the scale is c / c_b^2 (see <see cref="EmpiricalScale"/>). Dispose to detach.
    /// </summary>
    public IDisposable Attach(Func<int, T> gradientScale)
    {
        var detach = new List<Action>();
        foreach (var layer in Layers)
        {
            ForwardHook<T> fwd = (_, input, _) => AddInput(layer, input.Value);
            BackwardHook<T> bwd = (_, input, g) => AddOutputGradient(layer, g.Value, gradientScale(input.Shape[0]));
            layer.Module.ForwardHooks += fwd;
            layer.Module.BackwardHooks += bwd;
            detach.Add(() => { layer.Module.ForwardHooks -= fwd; layer.Module.BackwardHooks -= bwd; });
        }
        return new Detacher(detach);
    }

    /// <summary>The gradient scale for <see cref="Attach"/> that yields the empirical-Fisher G of
    /// CONVENTIONS.md for batches reduced by <paramref name="loss"/> from a data set of
    /// <paramref name="totalSamples"/> samples with <paramref name="outputsPerSample"/> outputs each.</summary>
    public static Func<int, T> EmpiricalScale(Loss<T> loss, int totalSamples, int outputsPerSample) => n =>
    {
        double cb = loss.ReductionFactor(n, outputsPerSample), c = loss.ReductionFactor(totalSamples, outputsPerSample);
        return T.CreateTruncating(c / (cb * cb));
    };

    private sealed class Detacher(List<Action> actions) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            foreach (var a in actions) a();
        }
    }
}
