using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Distributed;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature;

/// <summary>Options shared by the curvature operators.</summary>
public sealed record CurvatureOptions
{
    /// <summary>Mini-batch size for streaming the data set; null means the whole set in one batch.
    /// Results do not depend on it (up to rounding).</summary>
    public int? BatchSize { get; init; }

    /// <summary>On construction, evaluate one product twice and fail if the results differ
    /// (Dropout or BatchNorm in training mode, a shuffling data set). Turn off only knowingly.</summary>
    public bool CheckDeterministic { get; init; } = true;

    /// <summary>The parameters to differentiate (rows and columns of the operator), in flat
    /// order; null means all parameters of the model.</summary>
    public IReadOnlyList<string>? ParameterNames { get; init; }

    /// <summary>The processes sharing the data set: each owns a contiguous range of the samples
    /// (<see cref="Communicator.Shard"/>) and products are summed across them, so every process gets the product
    /// over all samples. Every process must make the same calls. Default: one process. The Jacobian operators, whose
    /// output is per sample rather than a sum, do not shard: every process computes all of it.</summary>
    public Communicator Communicator { get; init; } = Communicator.Single;
}

/// <summary>
/// Base of the curvature operators of (model, loss, data set): a symmetric operator on the
/// space of the selected parameters whose product is accumulated over mini-batches.
/// <para>Normalisation: the total loss is L = sum_b w_b L_b with L_b the loss of batch b under the
/// loss's own reduction and w_b = n_b / N for <c>mean</c>, 1 for <c>sum</c>. Every product is the
/// w_b-weighted sum of batch products, so it does not depend on the batch size, including a
/// smaller last batch (curvlinops' convention).</para>
/// </summary>
public abstract class CurvatureOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private protected CurvatureOperator(Module<T> model, Loss<T> loss, DataSet<T> data, CurvatureOptions? options, bool positiveSemiDefinite)
        : base(ParameterSpace(model, options), ParameterSpace(model, options), isSymmetric: true, isPositiveSemiDefinite: positiveSemiDefinite)
    {
        options ??= new CurvatureOptions();
        if (options.BatchSize is < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Batch size must be positive, got {options.BatchSize}.");
        if (data.Count == 0) throw new ArgumentException("The data set is empty: a curvature operator needs at least one sample.");
        Model = model; Loss = loss; Data = data; Options = options;
        Parameters = ParameterSelection.Select(model, options.ParameterNames);
    }

    public Module<T> Model { get; }
    public Loss<T> Loss { get; }
    public DataSet<T> Data { get; }
    public CurvatureOptions Options { get; }

    /// <summary>The parameters spanning the operator's space, in flat order.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    private protected IReadOnlyList<Var<T>> Leaves => Parameters.Select(p => p.Var).ToList();

    private static Space ParameterSpace(Module<T> model, CurvatureOptions? options)
        => Space.FromParameters(ParameterSelection.Select(model, options?.ParameterNames));

    /// <summary>w_b: the weight of a batch of n samples in the total loss.</summary>
    private protected T BatchWeight(int n) => Loss.Reduction == Reduction.Sum ? T.One : T.CreateTruncating(n / (double)Data.Count);

    /// <summary>Runs the determinism check (call at the end of a derived constructor).</summary>
    private protected void CheckDeterminism()
    {
        if (!Options.CheckDeterministic) return;
        var rng = new Random(20240531);
        var v = Tensor<T>.Zeros(Columns, 1);
        for (int i = 0; i < v.Length; i++) v.Span[i] = T.CreateTruncating(rng.NextDouble() - 0.5);
        var a = MatMat(v); var b = MatMat(v);
        if (!Internal.Determinism.Agree<T>(a.Span, b.Span, out double diff, out double scale))
            throw new InvalidOperationException(
                $"{GetType().Name.Split('`')[0]} is not deterministic: two evaluations of the same product differ (max difference {diff:E3} at scale {scale:E3}). " +
                "Put Dropout and BatchNorm in eval mode (model.Eval()) and iterate the data in a fixed order, or set CheckDeterministic = false.");
    }

    /// <summary>Elements a stacked sweep may hold per tensor: K columns go through the model together in
    /// chunks of at most <see cref="MaxColumnChunk"/>, fewer when the largest activation times the chunk would
    /// exceed this (1M elements, 4 MB in float), so memory grows with neither K nor the activations' size
    /// beyond one chunk (fresh large buffers are expensive: they fault in new pages on every call).</summary>
    internal const long StackBudget = 1L << 20;

    /// <summary>The most columns of one stacked sweep.</summary>
    internal const int MaxColumnChunk = 16;

    /// <summary>Columns [0, k) in the chunks (start, count) that stacked sweeps over the graphs of
    /// <paramref name="graph"/> take: as many as the budget allows for its largest value.</summary>
    internal static IEnumerable<(int Start, int Count)> ColumnChunks(int k, IEnumerable<Var<T>> graph)
    {
        int chunk = (int)Math.Clamp(StackBudget / Math.Max(1, LargestValue(graph)), 1, MaxColumnChunk);
        for (int c = 0; c < k; c += chunk) yield return (c, Math.Min(chunk, k - c));
    }

    /// <summary>The number of elements of the largest value recorded in the graphs of <paramref name="roots"/>.</summary>
    private static long LargestValue(IEnumerable<Var<T>> roots)
    {
        long largest = 0;
        var seen = new HashSet<Node<T>>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Var<T>>(roots);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            largest = Math.Max(largest, v.Length);
            if (v.Creator is { } node && seen.Add(node))
                foreach (var input in node.Inputs) stack.Push(input);
        }
        return largest;
    }

    /// <summary>
    /// Per batch: one forward pass (and whatever else the product reuses across columns), then the product of the
    /// batch with every chunk of columns. This process takes its shard of the samples (all of them without a
    /// communicator); several batches go to parallel workers (<see cref="Threading.ParallelWork"/>) in waves of as
    /// many as there are threads, each batch's weighted product whole in a buffer of its own, and the buffers are
    /// added in batch order: the same operations in the same order whatever the thread count, so the same bits.
    /// The shards' sums are then added across processes.
    /// </summary>
    protected sealed override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var y = Tensor<T>.Zeros(Rows, k);
        if (k == 0) return y;
        var (first, count) = Options.Communicator.Shard(Data.Count);
        var batches = new List<(Batch<T> Batch, int Start)>();
        int start = first;
        if (count > 0)
            foreach (var batch in Data.Range(first, count).Batches(Options.BatchSize))
            {
                batches.Add((batch, start));
                start += batch.Count;
            }
        if (batches.Count == 1) AccumulateBatch(batches[0].Batch, batches[0].Start, x, y);
        else
            Threading.ParallelWork.ForEachInOrder(batches.Count, i =>
            {
                var part = Tensor<T>.Zeros(Rows, k);
                AccumulateBatch(batches[i].Batch, batches[i].Start, x, part);
                return part;
            }, (_, part) => System.Numerics.Tensors.TensorPrimitives.Add(y.Span, part.Span, y.Span));
        Options.Communicator.AllReduceSum(y);
        return y;
    }

    // A method of its own so that a batch's graph is unreachable once it returns (a local of the loop could
    // keep the previous batch's graph alive while the next one is built, doubling the peak).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void AccumulateBatch(Batch<T> batch, int start, Tensor<T> x, Tensor<T> y)
    {
        var (product, graph) = PrepareBatch(batch, start);
        var weight = BatchWeight(batch.Count);
        var chunks = ColumnChunks(x.Shape[1], graph).ToList();
        // Chunks of columns share the batch's graph, which the sweeps only read, and fill disjoint columns: in
        // parallel (as many at once as there are threads, to bound the memory) they give the same bits.
        Threading.ParallelWork.ForEachInOrder(chunks.Count, i => product(InputSpace.SplitColumns(x, chunks[i].Start, chunks[i].Count)),
            (i, columns) => OutputSpace.AddColumns(y, chunks[i].Start, columns, weight));
    }

    /// <summary>Runs what a batch's products share (the forward pass, for the Hessian the gradient graph) and
    /// returns the product of the batch (samples start .. start + n) with a chunk of columns, given and returned
    /// as stacks [kc, ...parameter shape] per parameter, unweighted; and the roots of the graph it sweeps.</summary>
    private protected abstract (Func<Tensor<T>[], Tensor<T>[]> Product, IReadOnlyList<Var<T>> Graph) PrepareBatch(Batch<T> batch, int start);

    protected override LinearOperator<T> TransposeCore() => this;
}
