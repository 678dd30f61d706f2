using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>The identity I on a space: I X = X, I[i, j] = δ_ij. Symmetric and positive semi-definite.</summary>
public sealed class IdentityOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The identity on <paramref name="space"/>.</summary>
    public IdentityOperator(Space space) : base(space, space, isSymmetric: true, isPositiveSemiDefinite: true) { }

    /// <summary>The identity on R^n, <see cref="Space.Flat"/>(n).</summary>
    public IdentityOperator(int n) : this(Space.Flat(n)) { }

    /// <inheritdoc/>
    protected override Tensor<T> MatMatCore(Tensor<T> x) => x.Clone();

    /// <inheritdoc/>
    protected override Tensor<T> ToDenseCore()
    {
        var d = Tensor<T>.Zeros(Rows, Columns);
        for (int i = 0; i < Rows; i++) d.Span[i * Columns + i] = T.One;
        return d;
    }

    /// <summary>I + D is diagonal (1 + d_i), I + I = 2 I is diagonal.</summary>
    protected override LinearOperator<T>? TryAdd(LinearOperator<T> other) => other switch
    {
        DiagonalOperator<T> d => d.Shifted(T.One),
        IdentityOperator<T> => DiagonalOperator<T>.Constant(OutputSpace, T.One + T.One),
        _ => null,
    };
}
