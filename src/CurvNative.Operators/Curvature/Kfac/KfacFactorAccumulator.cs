using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using CurvNative.Kernels;
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

    // The factors' upper triangles (the strict lower triangles are not written until they are read). Allocated
    // at the first batch, uninitialised, and overwritten by it (SYRK with beta = 0): a large factor is neither
    // zeroed first nor alive during the passes that produce its first batch, so a garbage collection there
    // does not have to keep (and, for a generational GC, copy) it.
    private sealed class State(int din, int dout)
    {
        private Tensor<T>? _a, _g;
        public Tensor<T> A => _a ??= Tensor<T>.Uninitialized(din, din);
        public Tensor<T> G => _g ??= Tensor<T>.Uninitialized(dout, dout);
        public bool HasA, HasG, Taken;
        public long Samples;
        public int Shared = -1;
        public long GradientRows;
    }

    private readonly long? _expectedSamples;

    public KfacFactorAccumulator(IReadOnlyList<KfacLayer<T>> layers, KfacApproximation approximation)
        : this(layers, approximation, expectedSamples: null, backend: null) { }

    /// <summary>Accumulates through <paramref name="backend"/>'s <see cref="IKernelBackend.AccumulateFactor{T}"/> (null:
    /// <see cref="KernelBackends.Default"/>); <see cref="KfacOperator{T}.FromAccumulator"/> builds on the same backend.</summary>
    public KfacFactorAccumulator(IReadOnlyList<KfacLayer<T>> layers, KfacApproximation approximation, IKernelBackend? backend)
        : this(layers, approximation, expectedSamples: null, backend) { }

    /// <summary>With the number of samples known in advance (KfacOperator's own passes), each batch's input Gram
    /// is scaled by 1/(N S) inside its SYRK, so the factors need no scaling pass at the end.</summary>
    internal KfacFactorAccumulator(IReadOnlyList<KfacLayer<T>> layers, KfacApproximation approximation, long? expectedSamples, IKernelBackend? backend)
    {
        Layers = layers; Approximation = approximation; _expectedSamples = expectedSamples;
        Backend = KernelBackends.OrDefault(backend);
        foreach (var l in layers) _states[l] = new State(l.FactorInDim, l.OutDim);
    }

    /// <summary>The backend of the factor sums.</summary>
    public IKernelBackend Backend { get; }

    public IReadOnlyList<KfacLayer<T>> Layers { get; }
    public KfacApproximation Approximation { get; }

    private State StateOf(KfacLayer<T> layer)
    {
        var s = _states.TryGetValue(layer, out var found) ? found : throw new ArgumentException($"Layer {layer} is not one of this accumulator's layers.");
        return s.Taken ? throw new InvalidOperationException($"The factors of layer {layer} were handed over (TakeFactors); this accumulator can no longer use them.") : s;
    }

    /// <summary>Adds a batch of layer inputs (Linear: [n, ..., in]; Conv2d: [n, C, H, W]).</summary>
    public void AddInput(KfacLayer<T> layer, Tensor<T> input)
    {
        var s = StateOf(layer);
        int shared = layer.InputShared(input, Approximation);
        if (s.Shared >= 0 && s.Shared != shared)
            throw new ArgumentException($"Layer {layer}: inputs with {shared} shared positions after batches with {s.Shared}; the spatial size must not change.");
        layer.AddInputGram(Backend, input, Approximation, T.One / T.CreateTruncating(Prescale(shared)), s.HasA ? T.One : T.Zero, s.A.Span);
        s.HasA = true;
        s.Shared = shared;
        s.Samples += input.Shape[0];
    }

    /// <summary>What each input Gram is divided by as it is added: N S when N is known in advance, else 1.</summary>
    private double Prescale(int shared) => _expectedSamples is { } n ? (double)n * Math.Max(1, shared) : 1;

    /// <summary>The scale that turns the accumulated A into 1/(N S) sum a a^T: exactly 1 when the samples came as expected.</summary>
    private static T InputScale(State s, double prescale) => T.CreateTruncating(prescale / ((double)s.Samples * Math.Max(1, s.Shared)));

    /// <summary>Adds scale * sum_rows g g^T for a batch of gradients with respect to the layer's output.</summary>
    public void AddOutputGradient(KfacLayer<T> layer, Tensor<T> gradOutput, T scale)
    {
        var s = StateOf(layer);
        s.GradientRows += layer.AddGradientGram(Backend, gradOutput, Approximation, scale, s.HasG ? T.One : T.Zero, s.G.Span);
        s.HasG = true;
    }

    /// <summary>Adds the factors <paramref name="other"/> accumulated over other samples of the same layers (with the
    /// same approximation and expected sample count): the upper triangles of A and G and the counts.</summary>
    internal void Add(KfacFactorAccumulator<T> other)
    {
        foreach (var layer in Layers)
        {
            var s = StateOf(layer);
            var o = other.StateOf(layer);
            if (o.HasA)
            {
                if (s.Shared >= 0 && s.Shared != o.Shared)
                    throw new ArgumentException($"Layer {layer}: inputs with {o.Shared} shared positions after batches with {s.Shared}; the spatial size must not change.");
                AddUpper(s.A, o.A, s.HasA);
                s.HasA = true;
                s.Shared = o.Shared;
                s.Samples += o.Samples;
            }
            if (o.HasG)
            {
                AddUpper(s.G, o.G, s.HasG);
                s.HasG = true;
                s.GradientRows += o.GradientRows;
            }
        }
    }

    /// <summary>The upper triangle of target += that of source (= when <paramref name="accumulate"/> is false).</summary>
    private static void AddUpper(Tensor<T> target, Tensor<T> source, bool accumulate)
    {
        int n = target.Shape[0];
        var t = target.Span; var u = source.Span;
        for (int i = 0; i < n; i++)
        {
            var row = t.Slice(i * n + i, n - i);
            if (accumulate) TensorPrimitives.Add(row, u.Slice(i * n + i, n - i), row);
            else u.Slice(i * n + i, n - i).CopyTo(row);
        }
    }

    /// <summary>
    /// Adds the factors across the processes of <paramref name="communicator"/> (each accumulated its shard of the
    /// samples): the upper triangles of A and G, the sample and gradient-row counts, in double precision. A process
    /// whose shard was empty contributes zeros. Collective: every process calls it once, after its last batch.
    /// </summary>
    internal void AllReduce(Distributed.Communicator communicator)
    {
        if (communicator.Size == 1) return;
        foreach (var layer in Layers)
        {
            var s = StateOf(layer);
            if (!s.HasA) s.A.Span.Clear();
            if (!s.HasG) s.G.Span.Clear();
            // Only upper triangles are kept (AddUpper; TakeFactors mirrors them): send those, half the bytes.
            int na = Triangle(s.A), ng = Triangle(s.G);
            var buffer = new double[na + ng + 5];
            PackUpper(s.A, buffer.AsSpan(0, na));
            PackUpper(s.G, buffer.AsSpan(na, ng));
            buffer[na + ng] = s.Samples;
            buffer[na + ng + 1] = s.GradientRows;
            buffer[na + ng + 2] = s.HasA ? 1 : 0;
            buffer[na + ng + 3] = s.HasA ? s.Shared : 0;
            buffer[na + ng + 4] = s.HasG ? 1 : 0;
            communicator.AllReduceSum(buffer);
            UnpackUpper(buffer.AsSpan(0, na), s.A);
            UnpackUpper(buffer.AsSpan(na, ng), s.G);
            s.Samples = (long)buffer[na + ng];
            s.GradientRows = (long)buffer[na + ng + 1];
            int withInputs = (int)buffer[na + ng + 2];
            s.HasA = withInputs > 0;
            // Every process with inputs saw the same positions per sample (the layer's geometry).
            s.Shared = s.HasA ? (int)Math.Round(buffer[na + ng + 3] / withInputs) : -1;
            s.HasG = buffer[na + ng + 4] > 0;
        }
    }

    private static int Triangle(Tensor<T> square) => square.Shape[0] * (square.Shape[0] + 1) / 2;

    /// <summary>Rows i of the upper triangle (columns i..n-1), one after another, as doubles.</summary>
    private static void PackUpper(Tensor<T> square, Span<double> packed)
    {
        int n = square.Shape[0], at = 0;
        var src = square.Span;
        for (int i = 0; i < n; i++)
        {
            System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<T, double>(src.Slice(i * n + i, n - i), packed.Slice(at, n - i));
            at += n - i;
        }
    }

    private static void UnpackUpper(ReadOnlySpan<double> packed, Tensor<T> square)
    {
        int n = square.Shape[0], at = 0;
        var dst = square.Span;
        for (int i = 0; i < n; i++)
        {
            System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<double, T>(packed.Slice(at, n - i), dst.Slice(i * n + i, n - i));
            at += n - i;
        }
    }

    /// <summary>Sets G to the identity (forward-only KFAC).</summary>
    internal void SetGradientIdentity(KfacLayer<T> layer)
    {
        var s = StateOf(layer);
        var g = s.G;
        g.Span.Clear();
        for (int i = 0; i < layer.OutDim; i++) g.Span[i * layer.OutDim + i] = T.One;
        s.HasG = true;
    }

    /// <summary>scale * the symmetric matrix whose upper triangle <paramref name="upper"/> holds, in one new
    /// tensor and one pass.</summary>
    private static Tensor<T> Symmetrized(Tensor<T> upper, T scale)
    {
        int n = upper.Shape[0];
        var result = Tensor<T>.Uninitialized(n, n);
        Symmetrize(upper.Span, result.Span, n, scale);
        return result;
    }

    /// <summary>dst = scale * the symmetric matrix whose upper triangle is src's (both [n, n]; dst may be src):
    /// the upper triangle is scaled row by row, then mirrored (<see cref="SquareMatrix.MirrorUpper"/>; a per-element
    /// loop made symmetrisation ~7% of the MLP's KFAC construction).</summary>
    private static unsafe void Symmetrize(ReadOnlySpan<T> src, Span<T> dst, int n, T scale)
    {
        fixed (T* ps = src) fixed (T* pd = dst)
        {
            if (scale != T.One || ps != pd)
                for (int i = 0; i < n; i++)
                    TensorPrimitives.Multiply(new ReadOnlySpan<T>(ps + (long)i * n + i, n - i), scale, new Span<T>(pd + (long)i * n + i, n - i));
            SquareMatrix.MirrorUpper(pd, n);
        }
    }

    /// <summary>Makes the upper triangle of m [n, n] a full symmetric matrix scaled by <paramref name="scale"/>, in place.</summary>
    private static void SymmetrizeInPlace(Tensor<T> m, T scale)
    {
        int n = m.Shape[0];
        Symmetrize(m.Span, m.Span, n, scale);
    }

    /// <summary>
    /// As <see cref="Factors"/>, but hands over the accumulator's own buffers (symmetrised and normalised in
    /// place) instead of copying them, so a factor costs one allocation; the layer's state is unusable
    /// afterwards. For an accumulator that is discarded after reading its factors (KfacOperator's own passes).
    /// </summary>
    internal (Tensor<T> A, Tensor<T> G) TakeFactors(KfacLayer<T> layer)
    {
        var s = StateOf(layer);
        if (s.Samples == 0 || !s.HasA) throw new InvalidOperationException($"Layer {layer} received no inputs: was it used in the forward passes?");
        SymmetrizeInPlace(s.A, InputScale(s, Prescale(s.Shared)));
        if (s.HasG) SymmetrizeInPlace(s.G, T.One);
        else s.G.Span.Clear();
        s.Taken = true;
        return (s.A, s.G);
    }

    /// <summary>The factors (A normalised by 1/(N S), G as accumulated). Copies.</summary>
    public (Tensor<T> A, Tensor<T> G) Factors(KfacLayer<T> layer)
    {
        var s = StateOf(layer);
        if (s.Samples == 0 || !s.HasA) throw new InvalidOperationException($"Layer {layer} received no inputs: was it used in the forward passes?");
        var a = Symmetrized(s.A, InputScale(s, Prescale(s.Shared)));
        var g = s.HasG ? Symmetrized(s.G, T.One) : Tensor<T>.Zeros(layer.OutDim, layer.OutDim);
        return (a, g);
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
    /// docs/conventions.md for batches reduced by <paramref name="loss"/> from a data set of
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
