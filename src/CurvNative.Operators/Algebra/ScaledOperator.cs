using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>α A: (α A) X = α (A X). Keeps symmetric; keeps PSD only when α ≥ 0.</summary>
internal sealed class ScaledOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private ScaledOperator(LinearOperator<T> inner, T alpha)
        : base(inner.OutputSpace, inner.InputSpace, inner.IsSymmetric, inner.IsPositiveSemiDefinite && alpha >= T.Zero)
    {
        Inner = inner;
        Alpha = alpha;
    }

    /// <summary>α A, folding α (β B) into (α β) B.</summary>
    public static LinearOperator<T> Create(LinearOperator<T> inner, T alpha)
        => inner is ScaledOperator<T> s ? s.Inner.Scale(alpha * s.Alpha) : new ScaledOperator<T>(inner, alpha);

    public LinearOperator<T> Inner { get; }

    public T Alpha { get; }

    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        var y = Inner.Apply(x);
        DenseKernels.Scale(y.Span, Alpha, y.Span);
        return y;
    }

    protected override LinearOperator<T> TransposeCore() => Inner.Transpose().Scale(Alpha);

    protected override Tensor<T> ToDenseCore()
    {
        var d = Inner.ToDense();
        DenseKernels.Scale(d.Span, Alpha, d.Span);
        return d;
    }
}
