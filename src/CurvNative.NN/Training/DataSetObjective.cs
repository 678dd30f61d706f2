using System.Numerics;
using CurvNative.Autodiff;
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

    /// <summary>The mini-batches, in data set order.</summary>
    public IEnumerable<Batch<T>> Batches() => Data.Batches(BatchSize);

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
        double total = 0;
        foreach (var batch in Batches())
        {
            var (loss, w) = BatchLoss(batch);
            total += w * double.CreateTruncating(loss.Value.ToScalar());
        }
        return total;
    }

    /// <summary>The gradient of <see cref="Loss"/> with respect to the parameters, as one flat vector
    /// in <see cref="ParameterVector"/> order: Σ_b w_b ∇L_b.</summary>
    public Tensor<T> Gradient() => LossAndGradient().Gradient;

    /// <summary>The loss and its gradient in one pass over the data.</summary>
    public (double Loss, Tensor<T> Gradient) LossAndGradient()
    {
        var wrt = Parameters.Select(p => p.Var).ToList();
        var sum = new double[ParameterVector.Count(Parameters)];
        double total = 0;
        using var _ = GradMode.Enable();
        foreach (var batch in Batches())
        {
            var (loss, w) = BatchLoss(batch);
            total += w * double.CreateTruncating(loss.Value.ToScalar());
            var grads = Autograd.Grad(loss, wrt);
            int offset = 0;
            foreach (var g in grads)
            {
                var span = g.Value.Span;
                for (int i = 0; i < span.Length; i++) sum[offset + i] += w * double.CreateTruncating(span[i]);
                offset += span.Length;
            }
        }
        var flat = Tensor<T>.Zeros(sum.Length);
        var dst = flat.Span;
        for (int i = 0; i < sum.Length; i++) dst[i] = T.CreateTruncating(sum[i]);
        return (total, flat);
    }
}
