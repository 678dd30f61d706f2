using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// The composition A B (B first): (A B) X = A (B X), mapping B.InputSpace → A.OutputSpace.
/// Flags: symmetric PSD for Aᵀ A, A Aᵀ (one factor known to be the transpose of the other) and
/// A A with A symmetric; otherwise neither.
/// </summary>
internal sealed class ComposedOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public ComposedOperator(LinearOperator<T> outer, LinearOperator<T> inner)
        : base(outer.OutputSpace, inner.InputSpace, isSymmetric: false, isPositiveSemiDefinite: IsGram(outer, inner))
    {
        Outer = outer;
        Inner = inner;
    }

    private static bool IsGram(LinearOperator<T> outer, LinearOperator<T> inner)
        => outer.IsKnownTransposeOf(inner) || inner.IsKnownTransposeOf(outer)
           || (ReferenceEquals(outer, inner) && outer.IsSymmetric);

    public LinearOperator<T> Outer { get; }

    public LinearOperator<T> Inner { get; }

    protected override Tensor<T> MatMatCore(Tensor<T> x) => Outer.Apply(Inner.Apply(x));

    protected override LinearOperator<T> TransposeCore() => Inner.Transpose().Compose(Outer.Transpose());
}
