using System.Collections.Immutable;
using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// The restriction of an operator A to some of its output blocks (rows) and input blocks (columns):
/// A[outputBlocks, inputBlocks], mapping InputSpace.Subspace(inputBlocks) → OutputSpace.Subspace(outputBlocks).
/// </summary>
/// <remarks>
/// A product zero-pads X into the parent's input space, applies the parent once and keeps the
/// selected output rows, so one call costs one full product of A whatever the number of blocks.
/// Block order follows the index arrays, which must be distinct and in range. Symmetric (PSD) when
/// A is and the two index lists are equal (a principal submatrix).
/// </remarks>
public sealed class SubOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _outputBlocks, _inputBlocks;

    /// <summary>A[outputBlocks, inputBlocks].</summary>
    /// <param name="parent">The operator A.</param>
    /// <param name="outputBlocks">Indices of blocks of A.OutputSpace kept as rows, in order.</param>
    /// <param name="inputBlocks">Indices of blocks of A.InputSpace kept as columns, in order.</param>
    /// <exception cref="ArgumentException">An index is out of range or repeated.</exception>
    public SubOperator(LinearOperator<T> parent, int[] outputBlocks, int[] inputBlocks)
        : this(parent, Check(parent, outputBlocks, inputBlocks), (int[])inputBlocks.Clone(), trusted: true) { }

    private SubOperator(LinearOperator<T> parent, int[] outputBlocks, int[] inputBlocks, bool trusted)
        : base(parent.OutputSpace.Subspace(outputBlocks), parent.InputSpace.Subspace(inputBlocks),
               parent.IsSymmetric && outputBlocks.AsSpan().SequenceEqual(inputBlocks),
               parent.IsPositiveSemiDefinite && outputBlocks.AsSpan().SequenceEqual(inputBlocks))
    {
        _ = trusted;
        Parent = parent;
        _outputBlocks = outputBlocks;
        _inputBlocks = inputBlocks;
    }

    private static int[] Check(LinearOperator<T> parent, int[] outputBlocks, int[] inputBlocks)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(outputBlocks);
        ArgumentNullException.ThrowIfNull(inputBlocks);
        parent.OutputSpace.CheckBlockIndices(outputBlocks, nameof(outputBlocks));
        parent.InputSpace.CheckBlockIndices(inputBlocks, nameof(inputBlocks));
        return (int[])outputBlocks.Clone();
    }

    /// <summary>The restricted operator A.</summary>
    public LinearOperator<T> Parent { get; }

    /// <summary>The kept output blocks of A, in order.</summary>
    public ImmutableArray<int> OutputBlocks => [.. _outputBlocks];

    /// <summary>The kept input blocks of A, in order.</summary>
    public ImmutableArray<int> InputBlocks => [.. _inputBlocks];

    /// <inheritdoc/>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var pin = Parent.InputSpace;
        var padded = Tensor<T>.Zeros(Parent.Columns, k);
        int offset = 0;
        foreach (var b in _inputBlocks)
        {
            int size = pin.Sizes[b] * k;
            x.Span.Slice(offset, size).CopyTo(padded.Span.Slice(pin.Offsets[b] * k, size));
            offset += size;
        }
        var full = Parent.Apply(padded);
        var pout = Parent.OutputSpace;
        var y = Tensor<T>.Uninitialized(Rows, k);
        offset = 0;
        foreach (var b in _outputBlocks)
        {
            int size = pout.Sizes[b] * k;
            full.Span.Slice(pout.Offsets[b] * k, size).CopyTo(y.Span.Slice(offset, size));
            offset += size;
        }
        return y;
    }

    /// <summary>A[O, I]ᵀ = Aᵀ[I, O].</summary>
    protected override LinearOperator<T> TransposeCore() => new SubOperator<T>(Parent.Transpose(), _inputBlocks, _outputBlocks, trusted: true);
}
