using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Distributed;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.NN.Training;

/// <summary>
/// The loss of a model over a whole data set, L(θ) = loss(model(X), Y) as if the N samples were one batch,
/// and its gradient, evaluated in mini-batches of any size with a result that does not depend on the size.
/// </summary>
/// <remarks>
/// <para>Every loss here is L = c(N, C) Σ_n l_n, with l_n the unreduced loss of sample n summed over its C output
/// elements and c the reduction factor (<see cref="Loss{T}.ReductionFactor"/>): c = 1 for <c>sum</c>,
/// c = 1/N for cross-entropy <c>mean</c> (PyTorch averages over samples), c = 1/(N C) for MSE and BCE <c>mean</c>
/// (PyTorch averages over all N C elements). A mini-batch b of n_b samples reduced by the same loss gives
/// L_b = c(n_b, C) Σ_{n ∈ b} l_n, so</para>
/// <para><c>L = Σ_b w_b L_b</c> with <c>w_b = c(N, C) / c(n_b, C)</c>, that is <c>w_b = n_b / N</c> for <c>mean</c>
/// and <c>w_b = 1</c> for <c>sum</c>,</para>
/// <para>and, the batches being disjoint, ∇L = Σ_b w_b ∇L_b and likewise for every second-order quantity built
/// from the loss (Hessian, GGN, Fisher): curvature operators use <see cref="BatchWeight"/> or
/// <see cref="WeightedBatchLoss"/> to get the same normalisation.</para>
/// <para>Batches are the data set's <see cref="DataSet{T}.Batches"/> in order, the last one possibly smaller.
/// Batch losses and gradients are weighted and accumulated in double precision (also for float models); the
/// gradient is rounded to <typeparamref name="T"/> once at the end. The model runs in its current mode: with layers whose
/// output depends on the batch (BatchNorm in training mode) the result does depend on the batch size.</para>
/// </remarks>
public sealed class DataSetObjective<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the objective.</summary>
    /// <param name="model">The model; its parameters, in <see cref="Module{T}.Parameters"/> order, are differentiated.</param>
    /// <param name="loss">The loss with its reduction.</param>
    /// <param name="data">The data set (N ≥ 1 samples).</param>
    /// <param name="batchSize">Samples per mini-batch; null for the whole data set in one batch.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    /// <exception cref="ArgumentException">The data set is empty.</exception>
    public DataSetObjective(Module<T> model, Loss<T> loss, DataSet<T> data, int? batchSize = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize is < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"Batch size must be positive, got {batchSize}.");
        if (data.Count == 0) throw new ArgumentException("The data set has no samples; the loss over it is undefined.", nameof(data));
        Model = model;
        LossFunction = loss;
        Data = data;
        BatchSize = Math.Min(batchSize ?? data.Count, data.Count);
        Parameters = model.Parameters().ToList();
    }

    /// <summary>The model.</summary>
    public Module<T> Model { get; }

    /// <summary>The loss with its reduction.</summary>
    public Loss<T> LossFunction { get; }

    /// <summary>The data set.</summary>
    public DataSet<T> Data { get; }

    /// <summary>Samples per mini-batch (at most the data set size).</summary>
    public int BatchSize { get; }

    /// <summary>The parameters, in the flat order of torch.nn.utils.parameters_to_vector (<see cref="ParameterVector"/>).</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>The processes sharing the data set: <see cref="Loss"/> and <see cref="LossAndGradient"/> run over
    /// this process's contiguous shard of the samples and sum across the processes, so every process gets the
    /// value over all samples. Default: one process.</summary>
    public Communicator Communicator { get; init; } = Communicator.Single;

    /// <summary>The mini-batches, in data set order.</summary>
    public IEnumerable<Batch<T>> Batches() => Data.Batches(BatchSize);

    /// <summary>The mini-batches of this process's shard, in data set order (all of them for one process).</summary>
    private List<Batch<T>> ShardBatches()
    {
        var (start, count) = Communicator.Shard(Data.Count);
        return count == 0 ? [] : Data.Range(start, count).Batches(BatchSize).ToList();
    }

    /// <summary>
    /// sum = Σ_b parts(b) over this shard's batches, then across the processes: batches go to parallel workers in
    /// waves of as many as there are threads, each returning its terms whole, added in batch order (the same bits
    /// for any thread count).
    /// </summary>
    private double[] SumOverBatches(int length, Func<Batch<T>, double[]> terms)
    {
        var sum = new double[length];
        var batches = ShardBatches();
        Threading.ParallelWork.ForEachInOrder(batches.Count, b => terms(batches[b]), (_, part) =>
            System.Numerics.Tensors.TensorPrimitives.Add(sum, part, sum));
        Communicator.AllReduceSum(sum);
        return sum;
    }

    /// <summary>
    /// w_b = c(N, C) / c(n_b, C): the weight of a batch's reduced loss in the data set's loss
    /// (n_b / N for <c>mean</c>, 1 for <c>sum</c>; see the class remarks).
    /// </summary>
    /// <param name="batchSamples">n_b, the samples in the batch.</param>
    /// <param name="outputsPerSample">C, the model's output elements per sample.</param>
    public double BatchWeight(int batchSamples, int outputsPerSample)
    {
        if (batchSamples < 1 || batchSamples > Data.Count)
            throw new ArgumentOutOfRangeException(nameof(batchSamples), $"A batch has between 1 and {Data.Count} samples, got {batchSamples}.");
        return LossFunction.ReductionFactor(Data.Count, outputsPerSample) / LossFunction.ReductionFactor(batchSamples, outputsPerSample);
    }

    /// <summary>
    /// w_b L_b: the batch's reduced loss scaled by its weight, recorded for differentiation when gradient mode is on.
    /// Summing it over <see cref="Batches"/> gives the data set's loss, so summing its derivatives (gradients,
    /// Hessian-vector products) over the batches gives the data set's.
    /// </summary>
    public Var<T> WeightedBatchLoss(Batch<T> batch)
    {
        var (loss, w) = BatchLoss(batch);
        return w == 1 ? loss : F.Scale(loss, T.CreateTruncating(w));
    }

    /// <summary>The batch's reduced loss L_b (unweighted) and its weight w_b.</summary>
    private (Var<T> Loss, double Weight) BatchLoss(Batch<T> batch)
    {
        var output = Model.Forward(Var<T>.Constant(batch.X));
        var loss = LossFunction.Forward(output, batch.Y);
        return (loss, BatchWeight(batch.Count, output.Length / batch.Count));
    }

    /// <summary>The loss over the whole data set, Σ_b w_b L_b (forward passes only, no graph).</summary>
    public double Loss()
    {
        using var _ = GradMode.Disable();
        return SumOverBatches(1, batch =>
        {
            var (loss, w) = BatchLoss(batch);
            return [w * double.CreateTruncating(loss.Value.ToScalar())];
        })[0];
    }

    /// <summary>The gradient of <see cref="Loss"/> with respect to the parameters, as one flat vector
    /// in <see cref="ParameterVector"/> order: Σ_b w_b ∇L_b.</summary>
    public Tensor<T> Gradient() => LossAndGradient().Gradient;

    /// <summary>The loss and its gradient in one pass over the data.</summary>
    public (double Loss, Tensor<T> Gradient) LossAndGradient()
    {
        var wrt = Parameters.Select(p => p.Var).ToList();
        int count = ParameterVector.Count(Parameters);
        using var _ = GradMode.Enable();
        // Terms [w_b ∇L_b..., w_b L_b]: the loss rides along in the last element.
        var sum = SumOverBatches(count + 1, batch =>
        {
            var (loss, w) = BatchLoss(batch);
            var terms = new double[count + 1];
            terms[count] = w * double.CreateTruncating(loss.Value.ToScalar());
            int offset = 0;
            foreach (var g in Autograd.Grad(loss, wrt))
            {
                var span = g.Value.Span;
                var dst = terms.AsSpan(offset, span.Length);
                System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<T, double>(span, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply(dst, w, dst);
                offset += span.Length;
            }
            return terms;
        });
        var flat = Tensor<T>.Zeros(count);
        System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<double, T>(sum.AsSpan(0, count), flat.Span);
        return (sum[count], flat);
    }
}
