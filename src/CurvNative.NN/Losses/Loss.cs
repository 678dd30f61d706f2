using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.Tensors;

namespace CurvNative.NN.Losses;

/// <summary>How per-element losses are combined, exactly as PyTorch's <c>reduction</c>.</summary>
public enum Reduction { Mean, Sum }

/// <summary>
/// A loss L(f, y) of model outputs f [N, C] with closed-form second-order information.
/// Writing l_n for the unreduced loss of sample n summed over its C outputs, L = c * sum_n l_n with
/// the reduction factor c (<see cref="ReductionFactor"/>); the per-sample Hessian d^2 l_n / d f_n^2,
/// a symmetric factor R_n with R_n R_n^T equal to it, per-sample gradients, and gradients at targets
/// sampled from the model's predictive distribution (whose outer products equal that Hessian in
/// expectation) are what GGN, type-2/MC/empirical Fisher and KFAC need.
/// </summary>
public abstract class Loss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected Loss(Reduction reduction) => Reduction = reduction;

    public Reduction Reduction { get; }

    /// <summary>The loss of a batch with its reduction, differentiable in the output.</summary>
    public Var<T> Forward(Var<T> output, Targets<T> target)
    {
        Validate(output.Value, target);
        return ForwardCore(output, target);
    }

    protected abstract Var<T> ForwardCore(Var<T> output, Targets<T> target);

    /// <summary>c in L = c sum_n l_n for n samples with C output elements each:
    /// 1 for sum; 1/n for cross-entropy mean; 1/(n C) for MSE and BCE mean.</summary>
    public abstract double ReductionFactor(int samples, int outputsPerSample);

    /// <summary>d^2 l_n / d f_n^2 per sample, shape [N, C, C].</summary>
    public abstract Tensor<T> SampleHessian(Tensor<T> output, Targets<T> target);

    /// <summary>R_n [N, C, K] with R_n R_n^T = d^2 l_n / d f_n^2 (K = C for MSE and BCE; C - 1, the Hessian's rank,
    /// for cross-entropy).</summary>
    public abstract Tensor<T> SampleHessianSqrt(Tensor<T> output, Targets<T> target);

    /// <summary>d l_n / d f_n per sample, shape [N, C] (the empirical Fisher's vectors).</summary>
    public abstract Tensor<T> SampleGradients(Tensor<T> output, Targets<T> target);

    /// <summary>d l_n / d f_n at a target drawn from the model's predictive distribution, shape [N, C];
    /// E[g g^T] = d^2 l_n / d f_n^2, so averaging outer products of K draws estimates the type-2 Fisher.</summary>
    public Tensor<T> SampledGradients(Tensor<T> output, Random rng) => SampledGradients(output, _ => rng);

    /// <summary>As <see cref="SampledGradients(Tensor{T}, Random)"/>, row n drawing from <paramref name="rowRandom"/>(n)
    /// (rows in order): per-sample streams make the draws independent of how a data set is batched, in one call per batch.</summary>
    public abstract Tensor<T> SampledGradients(Tensor<T> output, Func<int, Random> rowRandom);

    /// <summary>Checks shapes, ranges and finiteness of outputs and targets; messages name both sides.</summary>
    protected virtual void Validate(Tensor<T> output, Targets<T> target)
    {
        if (output.Rank < 1 || output.Shape[0] != target.Count)
            throw new ArgumentException($"{GetType().Name.Split('`')[0]}: output {Shape.Format(output.Shape)} has a batch axis that does not match {target.Count} targets.");
        if (target.IsClassIndices) throw new ArgumentException($"{GetType().Name.Split('`')[0]} expects target values shaped like the output {Shape.Format(output.Shape)}, got class indices.");
        Shape.CheckEqual(output.Shape, target.Values!.Shape, $"{GetType().Name.Split('`')[0]} target");
    }

    /// <summary>The number of output elements per sample.</summary>
    protected static int PerSample(Tensor<T> output) => output.Shape[0] == 0 ? 0 : output.Length / output.Shape[0];

    protected T Factor(Tensor<T> output) => T.CreateTruncating(ReductionFactor(output.Shape[0], PerSample(output)));

    /// <summary>Standard normal draw (Box-Muller), for Gaussian sampling.</summary>
    protected static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Diagonal per-sample matrices [N, C, C] from [N, C] values.</summary>
    protected static Tensor<T> Diagonal(Tensor<T> diag)
    {
        int n = diag.Shape[0], c = PerSample(diag);
        var r = Tensor<T>.Zeros(n, c, c);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < c; j++) r.Span[(i * c + j) * c + j] = diag.Span[i * c + j];
        return r;
    }
}
