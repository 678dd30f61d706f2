using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// The lazy transpose Aᵀ of an operator without a structured transpose: its product is the parent's
/// transpose product (TransposeMatMatCore), and its own transpose is the parent. Keeps both flags.
/// </summary>
internal sealed class TransposedOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public TransposedOperator(LinearOperator<T> parent)
        : base(parent.InputSpace, parent.OutputSpace, parent.IsSymmetric, parent.IsPositiveSemiDefinite)
        => Parent = parent;

    public LinearOperator<T> Parent { get; }

    protected override Tensor<T> MatMatCore(Tensor<T> x) => Parent.ApplyTranspose(x);

    protected override Tensor<T> TransposeMatMatCore(Tensor<T> x) => Parent.Apply(x);

    protected override LinearOperator<T> TransposeCore() => Parent;

    internal override bool IsKnownTransposeOf(LinearOperator<T> other) => ReferenceEquals(Parent, other);
}
