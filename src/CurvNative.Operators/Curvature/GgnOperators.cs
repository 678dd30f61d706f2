using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature;

/// <summary>
/// Operators of the form sum_n J_n^T M_n J_n with J_n the Jacobian of sample n's output with respect
/// to the parameters and M_n = R_n R_n^T a PSD matrix in output space given by a factor R_n [C, K'].
/// A product costs one forward pass per batch, then per chunk of columns one stacked JVP (J V) and one
/// stacked VJP (J^T U), each a single sweep whose GEMMs span all columns of the chunk.
/// </summary>
public abstract class OutputCurvatureOperator<T> : CurvatureOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private protected OutputCurvatureOperator(Module<T> model, Loss<T> loss, DataSet<T> data, CurvatureOptions? options)
        : base(model, loss, data, options, positiveSemiDefinite: true) { }

    /// <summary>The factor R [n, C, K'] of this batch's output curvature, already including the
    /// loss's reduction factor for the batch.</summary>
    private protected abstract Tensor<T> OutputFactor(Tensor<T> output, Targets<T> targets, int start);

    private protected override (Func<Tensor<T>[], Tensor<T>[]>, IReadOnlyList<Var<T>>) PrepareBatch(Batch<T> batch, int start)
    {
        var leaves = Leaves;
        var f = Model.Forward(Var<T>.Constant(batch.X));
        var r = OutputFactor(f.Value, batch.Y, start);
        return (v =>
        {
            var jv = Autograd.JvpStacked([f], leaves, v)[0];
            return Autograd.GradStacked(f, leaves, ApplyFactor(r, jv));
        }, [f]);
    }

    /// <summary>u = R (R^T z) for every sample and column: R [n, C, K'], z [kc, n, ...] with C outputs per sample.</summary>
    private static Tensor<T> ApplyFactor(Tensor<T> r, Tensor<T> z)
    {
        int kc = z.Shape[0], n = r.Shape[0], c = r.Shape[1], kr = r.Shape[2];
        var u = Tensor<T>.Zeros(z.ShapeArray);
        var rs = r.Span; var zs = z.Span; var us = u.Span;
        var tmp = new T[kr];
        for (int col = 0; col < kc; col++)
            for (int s = 0; s < n; s++)
            {
                int row = (col * n + s) * c;
                Array.Clear(tmp);
                for (int a = 0; a < c; a++)
                {
                    T value = zs[row + a];
                    for (int q = 0; q < kr; q++) tmp[q] += rs[(s * c + a) * kr + q] * value;
                }
                for (int a = 0; a < c; a++)
                {
                    T acc = T.Zero;
                    for (int q = 0; q < kr; q++) acc += rs[(s * c + a) * kr + q] * tmp[q];
                    us[row + a] = acc;
                }
            }
        return u;
    }

    /// <summary>Scales a tensor by sqrt(c) for the batch's reduction factor c.</summary>
    private protected Tensor<T> WithReduction(Tensor<T> factor, Tensor<T> output)
    {
        int n = output.Shape[0], c = n == 0 ? 0 : output.Length / n;
        return TensorOps.Affine(factor, T.Sqrt(T.CreateTruncating(Loss.ReductionFactor(n, c))), T.Zero);
    }
}

/// <summary>
/// The generalized Gauss-Newton matrix G = sum_n J_n^T (d^2 L / d f_n^2) J_n (Schraudolph 2002),
/// equal to the type-2 Fisher for the three losses here. PSD.
/// </summary>
public sealed class GgnOperator<T> : OutputCurvatureOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public GgnOperator(Module<T> model, Loss<T> loss, DataSet<T> data, CurvatureOptions? options = null)
        : base(model, loss, data, options) => CheckDeterminism();

    private protected override Tensor<T> OutputFactor(Tensor<T> output, Targets<T> targets, int start)
        => WithReduction(Loss.SampleHessianSqrt(output, targets), output);
}

/// <summary>
/// The empirical Fisher EF = c sum_n g_n g_n^T with g_n the gradient of sample n's unreduced loss
/// (summed over its outputs) and c the loss's reduction factor over the whole data set
/// (docs/conventions.md; curvlinops' EFLinearOperator). Computed as J^T (c e_n e_n^T) J with e_n = d l_n / d f_n,
/// so it costs one JVP and one VJP per column, not one backward pass per sample.
/// </summary>
public sealed class EmpiricalFisherOperator<T> : OutputCurvatureOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public EmpiricalFisherOperator(Module<T> model, Loss<T> loss, DataSet<T> data, CurvatureOptions? options = null)
        : base(model, loss, data, options) => CheckDeterminism();

    private protected override Tensor<T> OutputFactor(Tensor<T> output, Targets<T> targets, int start)
    {
        var e = Loss.SampleGradients(output, targets);
        return WithReduction(e.Reshape(e.Shape[0], e.Shape[1], 1), output);
    }
}

/// <summary>
/// The Monte-Carlo Fisher: the GGN with d^2 l_n / d f_n^2 replaced by (1/M) sum_m s_nm s_nm^T, where
/// s_nm is the gradient of the loss at a target drawn from the model's predictive distribution
/// (so its expectation is the GGN). Draws are seeded per sample (seed, sample index), so the operator
/// is deterministic and independent of the batch size.
/// </summary>
public sealed class FisherMcOperator<T> : OutputCurvatureOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public FisherMcOperator(Module<T> model, Loss<T> loss, DataSet<T> data, int samples = 1, int seed = 0, CurvatureOptions? options = null)
        : base(model, loss, data, options)
    {
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), $"The number of Monte-Carlo samples must be positive, got {samples}.");
        Samples = samples; Seed = seed;
        CheckDeterminism();
    }

    public int Samples { get; }
    public int Seed { get; }

    private protected override Tensor<T> OutputFactor(Tensor<T> output, Targets<T> targets, int start)
    {
        int n = output.Shape[0], c = n == 0 ? 0 : output.Length / n;
        var r = Tensor<T>.Zeros(n, c, Samples);
        var scale = T.One / T.Sqrt(T.CreateTruncating(Samples));
        var streams = SampleStreams(Seed, start, n);
        var rs = r.Span;
        for (int m = 0; m < Samples; m++)
        {
            var g = Loss.SampledGradients(output, i => streams[i]).Span;
            for (int s = 0; s < n * c; s++) rs[s * Samples + m] = scale * g[s];
        }
        return WithReduction(r, output);
    }

    /// <summary>One random stream per sample start .. start + n - 1, keyed by (seed, sample index): draw m of a
    /// sample is the same whatever the batching.</summary>
    internal static Random[] SampleStreams(int seed, int start, int n)
    {
        var streams = new Random[n];
        for (int i = 0; i < n; i++) streams[i] = new SampleStream(seed, start + i);
        return streams;
    }
}
