using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// An explicit matrix M of shape [Rows, Columns]: M X by one GEMM. The matrix is copied at
/// construction; the transpose shares that copy and multiplies by Mᵀ through GEMM's transpose flag.
/// </summary>
public sealed class DenseOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _m;           // stored row-major as [_storedRows, _storedCols]
    private readonly int _storedRows, _storedCols;
    private readonly bool _transposed; // the operator is Mᵀ of the stored matrix

    /// <summary>
    /// The operator of <paramref name="matrix"/> ([rows, cols], copied), from <paramref name="inputSpace"/>
    /// (default R^cols) to <paramref name="outputSpace"/> (default R^rows).
    /// </summary>
    /// <param name="matrix">The matrix M, [rows, cols].</param>
    /// <param name="outputSpace">Codomain, of dimension rows (default <see cref="Space.Flat"/>(rows)).</param>
    /// <param name="inputSpace">Domain, of dimension cols (default <see cref="Space.Flat"/>(cols)).</param>
    /// <param name="isSymmetric">Unchecked promise that M = Mᵀ.</param>
    /// <param name="isPositiveSemiDefinite">Unchecked promise that M = Mᵀ ⪰ 0.</param>
    /// <exception cref="ArgumentException">The matrix is not of rank 2, or a space's dimension differs from the matrix's.</exception>
    public DenseOperator(Tensor<T> matrix, Space? outputSpace = null, Space? inputSpace = null,
        bool isSymmetric = false, bool isPositiveSemiDefinite = false)
        : this(Copy(matrix), matrix.Shape[0], matrix.Shape[1], false,
               SpaceFor(outputSpace, matrix.Shape[0], "output", matrix),
               SpaceFor(inputSpace, matrix.Shape[1], "input", matrix),
               isSymmetric, isPositiveSemiDefinite) { }

    private DenseOperator(T[] m, int storedRows, int storedCols, bool transposed, Space output, Space input, bool sym, bool psd)
        : base(output, input, sym, psd)
    {
        _m = m;
        _storedRows = storedRows;
        _storedCols = storedCols;
        _transposed = transposed;
    }

    private static T[] Copy(Tensor<T> matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.Rank != 2)
            throw new ArgumentException($"A dense operator needs a matrix [rows, cols], but got shape {Shape.Format(matrix.Shape)}.", nameof(matrix));
        return matrix.ToArray();
    }

    private static Space SpaceFor(Space? space, int dim, string which, Tensor<T> matrix)
    {
        if (space is null) return Space.Flat(dim);
        if (space.Dimension != dim)
            throw new ArgumentException(
                $"The matrix has shape {Shape.Format(matrix.Shape)} but the {which} space {space} has dimension {space.Dimension} instead of {dim}.",
                which == "output" ? "outputSpace" : "inputSpace");
        return space;
    }

    /// <inheritdoc/>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var y = Tensor<T>.Uninitialized(Rows, k);
        DenseKernels.Gemm(_transposed, false, Rows, k, Columns, T.One, _m, _storedCols, x.Span, k, T.Zero, y.Span, k);
        return y;
    }

    /// <summary>Mᵀ, sharing the stored matrix.</summary>
    protected override LinearOperator<T> TransposeCore()
        => new DenseOperator<T>(_m, _storedRows, _storedCols, !_transposed, InputSpace, OutputSpace, IsSymmetric, IsPositiveSemiDefinite);

    /// <inheritdoc/>
    protected override Tensor<T> ToDenseCore()
        => _transposed ? DenseKernels.Transpose<T>(_m, _storedRows, _storedCols) : Tensor<T>.FromArray((T[])_m.Clone(), Rows, Columns);

    internal override bool IsKnownTransposeOf(LinearOperator<T> other)
        => base.IsKnownTransposeOf(other) || (other is DenseOperator<T> d && ReferenceEquals(d._m, _m) && d._transposed != _transposed);
}
