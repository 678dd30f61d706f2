using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Kernels;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>One Kronecker-factored block: a layer with its factors A (input covariance; null when
/// only the bias is covered) and G (output-gradient covariance).</summary>
public sealed record KfacBlock<T>(KfacLayer<T> Layer, Tensor<T> A, Tensor<T> G) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Kronecker-factored approximate curvature (Martens and Grosse 2015; convolutions: Grosse and
/// Martens 2016; weight sharing: Eschenhagen et al. 2023) of the GGN / Fisher, block-diagonal over
/// Linear and Conv2d layers. The weight block is G ⊗ A for the row-major flattening of W [O, D]
/// (applied to V as G V A) and the bias block is G; jointly, G ⊗ A_aug acts on [W | b].
/// Normalisation (curvlinops 2.x, docs/conventions.md): A = 1/(N S) sum a a^T for mean and sum
/// reductions; G = sum_n sum_c b_nc b_nc^T with b_nc the backpropagated columns of the factor of
/// d^2 L / d f_n^2 (type-2), sampled gradients (MC), or c e_n e_n^T (empirical); G = I (forward-only).
/// </summary>
/// <remarks>
/// The operator is a <see cref="BlockDiagonalOperator{T}"/> of <see cref="KroneckerOperator{T}"/> blocks in parameter
/// order (<see cref="Structure"/>): G ⊗ A per weight, G ⊗ [1] per separate bias, and a joint G ⊗ A_aug block mapped
/// onto the parameter layout by a permutation; products, trace, log-determinant and the damped inverses are those of
/// the structured operators. The factors are resident on <see cref="KfacOptions.Backend"/> from construction to
/// <see cref="Dispose"/> (on the host backends the resident buffers are the factor arrays themselves, so disposing
/// matters only for device backends).
/// </remarks>
public sealed class KfacOperator<T> : LinearOperator<T>, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<KfacPiece<T>> _pieces;
    private readonly BlockDiagonalOperator<T> _structure;

    private KfacOperator(IReadOnlyList<Parameter<T>> parameters, IReadOnlyList<KfacBlock<T>> blocks, IKernelBackend backend)
        : base(Space.FromParameters(parameters), Space.FromParameters(parameters), isSymmetric: true, isPositiveSemiDefinite: true)
    {
        Parameters = parameters;
        Blocks = blocks;
        Backend = backend;
        var byLayer = blocks.ToDictionary(b => b.Layer, (IEqualityComparer<KfacLayer<T>>)ReferenceEqualityComparer.Instance);
        var unit = Tensor<T>.FromArray([T.One], 1, 1);
        (_pieces, _structure) = KfacStructure.Assemble(parameters, blocks.Select(b => b.Layer),
            (layer, space) => KroneckerOperator<T>.Symmetric(byLayer[layer].G, byLayer[layer].A, space, psd: true, backend, layer.ToString()),
            (layer, space) => KroneckerOperator<T>.Symmetric(byLayer[layer].G, unit, space, psd: true, backend, layer.ToString()));
    }

    /// <summary>Computes the factors from passes over the data set.</summary>
    public KfacOperator(Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
        : this(ParameterSelection.Select(model, options.ParameterNames), Compute(model, loss, data, options), KernelBackends.OrDefault(options.Backend)) { }

    /// <summary>Builds the operator from factors a training loop accumulated (see
    /// <see cref="KfacFactorAccumulator{T}.Attach"/>), on the accumulator's backend. Forward-only G is not implied: G is what was fed.</summary>
    public static KfacOperator<T> FromAccumulator(Module<T> model, KfacFactorAccumulator<T> accumulator)
    {
        var parameters = accumulator.Layers.SelectMany(l => new[] { l.Weight, l.Bias }).OfType<Parameter<T>>().ToHashSet();
        var ordered = model.Parameters().Where(parameters.Contains).ToList();
        return new KfacOperator<T>(ordered, accumulator.Layers.Select(l => Block(l, accumulator)).ToList(), accumulator.Backend);
    }

    /// <summary>The parameters and factors of KFAC without building the operator (EKFAC needs only their eigenbases).</summary>
    internal static (List<Parameter<T>> Parameters, IReadOnlyList<KfacBlock<T>> Blocks) Factors(Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
        => (ParameterSelection.Select(model, options.ParameterNames), Compute(model, loss, data, options));

    /// <summary>The backend the products run on and the factors are resident on.</summary>
    public IKernelBackend Backend { get; }

    /// <summary>The operator as a block diagonal of Kronecker blocks in parameter order (see the remarks).</summary>
    public BlockDiagonalOperator<T> Structure => _structure;

    /// <summary>Releases the factors' resident buffers (a no-op on host backends, whose buffers are the factor arrays).</summary>
    public void Dispose() => KfacStructure.Dispose(_pieces);

    /// <summary>The parameters spanning the operator's space, in model order.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>The Kronecker-factored blocks, one per layer.</summary>
    public IReadOnlyList<KfacBlock<T>> Blocks { get; }

    private static KfacBlock<T> Block(KfacLayer<T> layer, KfacFactorAccumulator<T> acc)
    {
        var (a, g) = acc.Factors(layer);
        return new KfacBlock<T>(layer, a, g);
    }

    // ------------------------------------------------------------------ layers and parameters

    /// <summary>The KFAC layers covering the selected parameters; a parameter of any other layer is an error.</summary>
    internal static List<KfacLayer<T>> Layers(Module<T> model, IReadOnlyList<Parameter<T>> selected, bool separate)
    {
        var chosen = selected.ToHashSet();
        var layers = new List<KfacLayer<T>>();
        var covered = new HashSet<Parameter<T>>();
        foreach (var m in model.Modules())
        {
            if (m.Children().Any()) continue;
            var own = m.Parameters().Where(chosen.Contains).ToList();
            if (own.Count == 0) continue;
            (Parameter<T> W, Parameter<T>? B) wb = m switch
            {
                Linear<T> l => (l.Weight, l.Bias),
                Conv2d<T> c => (c.Weight, c.Bias),
                _ => throw new ArgumentException(
                    $"KFAC supports parameters of Linear and Conv2d layers; {string.Join(", ", own.Select(p => $"'{p.Name}'"))} belong(s) to {m}. Select a subset with ParameterNames."),
            };
            var w = chosen.Contains(wb.W) ? wb.W : null;
            var b = wb.B is not null && chosen.Contains(wb.B) ? wb.B : null;
            layers.Add(new KfacLayer<T>(m, w, b, joint: !separate));
            covered.UnionWith(own);
        }
        var missing = selected.Where(p => !covered.Contains(p)).ToList();
        if (missing.Count > 0) throw new ArgumentException($"Parameters {string.Join(", ", missing.Select(p => p.Name))} are not reachable as layer parameters of the model.");
        return layers;
    }

    // ------------------------------------------------------------------ factor computation

    private static IReadOnlyList<KfacBlock<T>> Compute(Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
    {
        if (options.McSamples < 1) throw new ArgumentOutOfRangeException(nameof(options), $"McSamples must be positive, got {options.McSamples}.");
        if (options.McSamples != 1 && options.FisherType != FisherType.MonteCarlo)
            throw new ArgumentException($"McSamples = {options.McSamples} only applies to the Monte-Carlo Fisher, not {options.FisherType}.");
        if (options.BatchSize is < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Batch size must be positive, got {options.BatchSize}.");
        if (data.Count == 0) throw new ArgumentException("The data set is empty: KFAC needs at least one sample.");
        var layers = Layers(model, ParameterSelection.Select(model, options.ParameterNames), options.SeparateWeightAndBias);
        if (options.CheckDeterministic) CheckDeterminism(model, loss, data, layers, options);
        var acc = Accumulate(model, loss, data, layers, options);
        // The accumulator is ours and dies here: take its buffers instead of copying them.
        return layers.Select(l =>
        {
            var (a, g) = acc.TakeFactors(l);
            return new KfacBlock<T>(l, a, g);
        }).ToList();
    }

    internal static KfacFactorAccumulator<T> Accumulate(Module<T> model, Loss<T> loss, DataSet<T> data, List<KfacLayer<T>> layers, KfacOptions options)
    {
        KfacFactorAccumulator<T> Pass(Batch<T> batch, int start)
        {
            var part = new KfacFactorAccumulator<T>(layers, options.Approximation, expectedSamples: data.Count, options.Backend);
            LayerPasses(model, loss, batch, start, data.Count, layers, options, part.AddInput, (layer, gradient) => part.AddOutputGradient(layer, gradient, T.One));
            return part;
        }
        var batches = ShardBatches(data, options).ToList();
        KfacFactorAccumulator<T> acc;
        if (batches.Count == 1) acc = Pass(batches[0].Batch, batches[0].Start);
        else if (KernelBackends.OrDefault(options.Backend) is not HostKernelBackend)
        {
            // A device backend's queue is not shared between threads: its batches run one after another.
            acc = new KfacFactorAccumulator<T>(layers, options.Approximation, expectedSamples: data.Count, options.Backend);
            foreach (var (batch, start) in batches) acc.Add(Pass(batch, start));
        }
        else
        {
            // Batches in parallel, each into factors of its own, added in batch order: the same bits for any thread count.
            acc = new KfacFactorAccumulator<T>(layers, options.Approximation, expectedSamples: data.Count, options.Backend);
            Threading.ParallelWork.ForEachInOrder(batches.Count, i => Pass(batches[i].Batch, batches[i].Start), (_, part) => acc.Add(part));
        }
        acc.AllReduce(options.Communicator);
        if (options.FisherType == FisherType.ForwardOnly)
            foreach (var l in layers) acc.SetGradientIdentity(l);
        return acc;
    }

    /// <summary>The batches of this process's shard of the data set, with the index of each batch's first sample in
    /// the whole set (all of the data for one process).</summary>
    internal static IEnumerable<(Batch<T> Batch, int Start)> ShardBatches(DataSet<T> data, KfacOptions options)
    {
        var (start, count) = options.Communicator.Shard(data.Count);
        if (count == 0) yield break;
        foreach (var batch in data.Range(start, count).Batches(options.BatchSize))
        {
            yield return (batch, start);
            start += batch.Count;
        }
    }

    private static void CheckDeterminism(Module<T> model, Loss<T> loss, DataSet<T> data, List<KfacLayer<T>> layers, KfacOptions options)
    {
        var batch = data.Batches(options.BatchSize).First();
        // Copies: the gradients live only for their callback (their buffers go back to the sweep's pool).
        List<T[]> Pass()
        {
            var seen = new List<T[]>();
            LayerPasses(model, loss, batch, 0, data.Count, layers, options, (_, input) => seen.Add(input.ToArray()), (_, gradient) => seen.Add(gradient.ToArray()));
            return seen;
        }
        var first = Pass();
        var second = Pass();
        for (int i = 0; i < first.Count; i++)
            if (!Internal.Determinism.Agree<T>(first[i], second[i], out double diff, out double scale))
                throw new InvalidOperationException(
                    $"KFAC's passes are not deterministic: two passes over the same batch gave different layer inputs or output gradients (max difference {diff:E3} at scale {scale:E3}). " +
                    "Put Dropout and BatchNorm in eval mode (model.Eval()), or set CheckDeterministic = false.");
    }

    /// <summary>
    /// One forward pass over a batch, handing each layer's input to <paramref name="onInput"/>, then the
    /// backward passes the Fisher type asks for, handing each layer's output gradients (scaled so that
    /// sum g g^T is the batch's share of G) to <paramref name="onGradient"/> as they come: a chunk of kc seeds
    /// over n samples arrives as one [kc n, ...] tensor, seed by seed, and is dropped after the call, so the
    /// gradients of all seeds are never held at once. Shared with EKFAC's correction pass.
    /// </summary>
    internal static void LayerPasses(Module<T> model, Loss<T> loss, Batch<T> batch, int start, int total,
        List<KfacLayer<T>> layers, KfacOptions options, Action<KfacLayer<T>, Tensor<T>> onInput, Action<KfacLayer<T>, Tensor<T>> onGradient)
    {
        var captured = new Dictionary<Module<T>, (Var<T> In, Var<T> Out)>(ReferenceEqualityComparer.Instance);
        var hooks = new List<(Module<T>, ForwardHook<T>)>();
        // The hooks are the model's, shared by every thread: each pass takes only its own thread's forward calls, so
        // passes over different batches can run in parallel on one model.
        int thread = Environment.CurrentManagedThreadId;
        foreach (var l in layers)
        {
            ForwardHook<T> h = (m, x, y) =>
            {
                if (Environment.CurrentManagedThreadId != thread) return;
                if (captured.ContainsKey(m)) throw new InvalidOperationException($"KFAC layer {m} ran more than once in one forward pass (weight tying is not supported).");
                captured[m] = (x, y);
            };
            l.Module.ForwardHooks += h;
            hooks.Add((l.Module, h));
        }
        Var<T> f;
        try
        {
            // Only the layer outputs need a graph; the parameters' leaves make them differentiable.
            f = model.Forward(Var<T>.Constant(batch.X));
        }
        finally
        {
            foreach (var (m, h) in hooks) m.ForwardHooks -= h;
        }
        foreach (var l in layers)
            onInput(l, captured.TryGetValue(l.Module, out var io) ? io.In.Value
                : throw new InvalidOperationException($"KFAC layer {l.Module} was not used in the forward pass."));

        if (options.FisherType == FisherType.ForwardOnly) return;
        var outputs = layers.Select(l => captured[l.Module].Out).ToList();
        // All seeds of a chunk in one stacked backward sweep (type-2: the columns of the loss Hessian's
        // factor); item c of a layer's stack is the gradient for seed c, so a chunk of kc seeds over n
        // samples is one gradient batch of kc n rows for G.
        var (seedCount, writeSeed) = OutputGradients(loss, f.Value, batch.Y, start, total, options);
        // The sweeps of successive chunks have the same shapes: each reuses the buffers of the one before.
        using var pool = TensorPool<T>.Enter();
        foreach (var (c0, count) in CurvatureOperator<T>.ColumnChunks(seedCount, [f]))
        {
            var stack = Tensor<T>.Uninitialized([count, .. f.Value.ShapeArray]);
            for (int c = 0; c < count; c++) writeSeed(c0 + c, stack.Span.Slice(c * f.Length, f.Length));
            var grads = Autograd.GradStacked(f, outputs, stack);
            for (int i = 0; i < layers.Count; i++)
            {
                var g = grads[i];
                onGradient(layers[i], g.Reshape([g.Shape[0] * g.Shape[1], .. g.Shape[2..].ToArray()]));
            }
            // The callbacks consume the gradients as they come (their contract), so the stacks are dead now.
            pool.Return(stack);
            foreach (var g in grads) pool.Return(g);
        }
    }

    /// <summary>The number of vectors to backpropagate from the model output, and how to write vector c (shaped like
    /// the output, flattened) into a span: scaled so that G = sum over them of the backpropagated outer products.
    /// Written in order c = 0, 1, ... (the Monte-Carlo draws continue each sample's stream).</summary>
    private static (int Count, SpanWriter Write) OutputGradients(Loss<T> loss, Tensor<T> f, Targets<T> y, int start, int total, KfacOptions options)
    {
        int n = f.Shape[0], c = n == 0 ? 0 : f.Length / n;
        var sqrtC = T.Sqrt(T.CreateTruncating(loss.ReductionFactor(total, c)));
        switch (options.FisherType)
        {
            case FisherType.Type2:
            {
                var r = loss.SampleHessianSqrt(f, y);
                int k = r.Shape[2];
                return (k, (col, dst) => Gather(r, dst, k, col, sqrtC));
            }
            case FisherType.MonteCarlo:
            {
                var scale = sqrtC / T.Sqrt(T.CreateTruncating(options.McSamples));
                var streams = FisherMcOperator<T>.SampleStreams(options.Seed, start, n);
                return (options.McSamples, (_, dst) => TensorPrimitives.Multiply(loss.SampledGradients(f, i => streams[i]).Span, scale, dst));
            }
            case FisherType.Empirical:
                return (1, (_, dst) => TensorPrimitives.Multiply(loss.SampleGradients(f, y).Span, sqrtC, dst));
            default:
                throw new ArgumentOutOfRangeException(nameof(options), $"Fisher type {options.FisherType} backpropagates no vectors.");
        }
    }

    private delegate void SpanWriter(int index, Span<T> destination);

    /// <summary>g[i] = scale * r[i * k + col]: column col of the loss Hessian's factor as one seed (spans taken
    /// once: the property per element made the ten type-2 seeds of the MLP benchmark cost ~0.2 ms).</summary>
    private static void Gather(Tensor<T> r, Span<T> g, int k, int col, T scale)
    {
        ReadOnlySpan<T> rs = r.Span;
        for (int i = 0; i < g.Length; i++) g[i] = scale * rs[i * k + col];
    }

    // ------------------------------------------------------------------ products

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _structure.Apply(x);

    protected override LinearOperator<T> TransposeCore() => this;

    // ------------------------------------------------------------------ inverse

    /// <summary>
    /// The damped inverse, block by block in the factors' eigenbases (LAPACK syevd; float32 retried in
    /// float64): Tikhonov (G + lambda I)^-1 ⊗ (A + lambda I)^-1, the Martens-Grosse heuristic split, or
    /// the exact (G ⊗ A + lambda I)^-1. Bias blocks are (G + lambda I)^-1 in every mode.
    /// </summary>
    /// <exception cref="SingularOperatorException">A damped block is singular to working precision (an eigenvalue at or
    /// below n ε times the block's largest; always the case for cross-entropy without damping, whose output-gradient
    /// factor G has the null vector 1).</exception>
    public LinearOperator<T> Inverse(double damping, KfacDamping mode = KfacDamping.Tikhonov, double minDamping = 1e-8)
    {
        KroneckerAlgebra.CheckDamping(damping);
        var unit = (Tensor<T>.FromArray([T.One], 1, 1), new[] { 1.0 });
        var inverses = new List<KfacPiece<T>>(_pieces.Count);
        foreach (var group in _pieces.GroupBy(p => p.Layer, ReferenceEqualityComparer.Instance))
        {
            // G's eigendecomposition serves the layer's weight and bias blocks.
            var block = Blocks.First(b => ReferenceEquals(b.Layer, group.Key));
            var g = KroneckerAlgebra.Eigh(block.G);
            foreach (var piece in group)
            {
                var k = (KroneckerOperator<T>)piece.Core;
                if (piece.IsBias)
                {
                    // (G + lambda I)^-1 in every mode: (w_G + lambda)(1 + 0).
                    inverses.Add(piece.With(k.DampedInverse((g, unit), damping, 0, exact: false, damping)));
                    continue;
                }
                var a = KroneckerAlgebra.Eigh(block.A);
                double dA = damping, dG = damping;
                if (mode == KfacDamping.Heuristic)
                {
                    double meanA = a.W.Sum() / a.W.Length, meanG = g.W.Sum() / g.W.Length;
                    double pi = meanA > 0 && meanG > 0 ? Math.Sqrt(meanA / meanG) : 1;
                    dA = Math.Max(pi * Math.Sqrt(damping), minDamping);
                    dG = Math.Max(Math.Sqrt(damping) / pi, minDamping);
                }
                inverses.Add(piece.With(k.DampedInverse((g, a), dG, dA, exact: mode == KfacDamping.Exact, damping)));
            }
        }
        return KroneckerEigenbasis<T>.FromPieces(inverses);
    }

    // ------------------------------------------------------------------ exact functionals

    /// <summary>tr = sum over blocks of tr(G) tr(A) (tr(G) for a bias block).</summary>
    public double Trace() => _structure.TraceInDouble();

    /// <summary>||K||_F = sqrt(sum over blocks of ||G||_F^2 ||A||_F^2).</summary>
    public double FrobeniusNorm() => Math.Sqrt(_structure.FrobeniusSquaredInDouble());

    /// <summary>log det = sum over blocks of dim(A) log det G + dim(G) log det A (factor determinants from their
    /// eigenvalues in double); -infinity when a factor is singular (an eigenvalue at or below n eps max).</summary>
    public double LogDeterminant() => _structure.LogDeterminantInDouble();

    /// <summary>det = exp(log det) (0 for a singular factor; may overflow to infinity).</summary>
    public double Determinant() => Math.Exp(LogDeterminant());
}
