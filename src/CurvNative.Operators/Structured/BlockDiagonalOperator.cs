using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// diag(A_1, …, A_m) for square or rectangular blocks A_t: the input space is the concatenation of
/// the blocks' input spaces, the output space that of their output spaces, and
/// (A X)[rows of t] = A_t X[columns of t]. Symmetric if every block is; PSD if every block is.
/// Trace, log-determinant and Frobenius norm are the blocks' combined (sum, sum, root of the sum of squares) when every
/// block knows its own exactly (Kronecker, Kronecker-eigenbasis and block-diagonal operators): KFAC and EKFAC are such
/// block diagonals.
/// </summary>
public sealed class BlockDiagonalOperator<T> : LinearOperator<T>, IExactFunctionals where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly LinearOperator<T>[] _blocks;
    private readonly int[] _rowOffsets, _colOffsets;

    /// <summary>The block-diagonal operator of <paramref name="blocks"/> (at least one).</summary>
    /// <exception cref="ArgumentException">No blocks were given.</exception>
    public BlockDiagonalOperator(params IEnumerable<LinearOperator<T>> blocks) : this(Validate(blocks)) { }

    private BlockDiagonalOperator(LinearOperator<T>[] blocks)
        : base(Space.Concat(blocks.Select(b => b.OutputSpace)), Space.Concat(blocks.Select(b => b.InputSpace)),
               blocks.All(b => b.IsSymmetric), blocks.All(b => b.IsPositiveSemiDefinite))
    {
        _blocks = blocks;
        _rowOffsets = new int[blocks.Length];
        _colOffsets = new int[blocks.Length];
        for (int t = 1; t < blocks.Length; t++)
        {
            _rowOffsets[t] = _rowOffsets[t - 1] + blocks[t - 1].Rows;
            _colOffsets[t] = _colOffsets[t - 1] + blocks[t - 1].Columns;
        }
    }

    private static LinearOperator<T>[] Validate(IEnumerable<LinearOperator<T>> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var array = blocks.ToArray();
        if (array.Length == 0) throw new ArgumentException("A block-diagonal operator needs at least one block.", nameof(blocks));
        for (int t = 0; t < array.Length; t++)
            if (array[t] is null) throw new ArgumentNullException(nameof(blocks), $"Block {t} is null.");
        return array;
    }

    /// <summary>The diagonal blocks A_1, …, A_m.</summary>
    public IReadOnlyList<LinearOperator<T>> Blocks => _blocks;

    /// <summary>diag(f(A_1), …, f(A_m)) for a map that keeps each block's spaces (a damped inverse).</summary>
    internal BlockDiagonalOperator<T> Map(Func<LinearOperator<T>, LinearOperator<T>> f) => new([.. _blocks.Select(f)]);

    /// <summary>tr = Σ_t tr(A_t), accumulated in double.</summary>
    /// <exception cref="InvalidOperationException">A block has no exact trace (it is not Kronecker-structured).</exception>
    public T Trace() => T.CreateTruncating(TraceInDouble());

    /// <summary>log det = Σ_t log det(A_t) (−∞ when a block is singular, NaN when a determinant is negative).</summary>
    /// <exception cref="InvalidOperationException">A block has no exact determinant.</exception>
    public T LogDeterminant() => T.CreateTruncating(LogDeterminantInDouble());

    /// <summary>‖A‖_F = sqrt(Σ_t ‖A_t‖_F²).</summary>
    /// <exception cref="InvalidOperationException">A block has no exact norm.</exception>
    public T FrobeniusNorm() => T.CreateTruncating(Math.Sqrt(FrobeniusSquaredInDouble()));

    internal double TraceInDouble() => Sum(f => f.TraceInDouble(), "trace");
    internal double LogDeterminantInDouble() => Sum(f => f.LogDeterminantInDouble(), "log-determinant");
    internal double FrobeniusSquaredInDouble() => Sum(f => f.FrobeniusSquaredInDouble(), "Frobenius norm");
    double IExactFunctionals.TraceInDouble() => TraceInDouble();
    double IExactFunctionals.LogDeterminantInDouble() => LogDeterminantInDouble();
    double IExactFunctionals.FrobeniusSquaredInDouble() => FrobeniusSquaredInDouble();

    private double Sum(Func<IExactFunctionals, double> f, string what)
    {
        double s = 0;
        for (int t = 0; t < _blocks.Length; t++)
            s += f(_blocks[t] as IExactFunctionals
                ?? throw new InvalidOperationException($"The {what} of a block-diagonal operator needs it of every block, but block {t} ({_blocks[t].Describe()}) has no closed form."));
        return s;
    }

    /// <inheritdoc/>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var y = Tensor<T>.Zeros(Rows, k);
        for (int t = 0; t < _blocks.Length; t++)
        {
            var b = _blocks[t];
            var yt = b.Apply(x.Slice0(_colOffsets[t], b.Columns));
            yt.Span.CopyTo(y.Span.Slice(_rowOffsets[t] * k, b.Rows * k));
        }
        return y;
    }

    /// <summary>diag(A_t)ᵀ = diag(A_tᵀ).</summary>
    protected override LinearOperator<T> TransposeCore() => new BlockDiagonalOperator<T>([.. _blocks.Select(b => b.Transpose())]);

    /// <inheritdoc/>
    protected override Tensor<T> ToDenseCore()
    {
        var d = Tensor<T>.Zeros(Rows, Columns);
        for (int t = 0; t < _blocks.Length; t++)
        {
            var b = _blocks[t];
            var bt = b.ToDense().Span;
            for (int i = 0; i < b.Rows; i++)
                bt.Slice(i * b.Columns, b.Columns).CopyTo(d.Span.Slice((_rowOffsets[t] + i) * Columns + _colOffsets[t], b.Columns));
        }
        return d;
    }

    /// <summary>diag(A_t) + diag(B_t) = diag(A_t + B_t) when the blocks' spaces match pairwise.</summary>
    protected override LinearOperator<T>? TryAdd(LinearOperator<T> other)
        => other is BlockDiagonalOperator<T> o && Pairwise(o, (a, b) => a.InputSpace == b.InputSpace && a.OutputSpace == b.OutputSpace)
            ? new BlockDiagonalOperator<T>([.. _blocks.Zip(o._blocks, (a, b) => a.Add(b))])
            : null;

    /// <summary>α diag(A_t) = diag(α A_t).</summary>
    protected override LinearOperator<T>? TryScale(T alpha) => new BlockDiagonalOperator<T>([.. _blocks.Select(b => b.Scale(alpha))]);

    /// <summary>diag(A_t) diag(B_t) = diag(A_t B_t) when each A_t's input space is B_t's output space.</summary>
    protected override LinearOperator<T>? TryCompose(LinearOperator<T> inner)
        => inner is BlockDiagonalOperator<T> o && Pairwise(o, (a, b) => a.InputSpace == b.OutputSpace)
            ? new BlockDiagonalOperator<T>([.. _blocks.Zip(o._blocks, (a, b) => a.Compose(b))])
            : null;

    private bool Pairwise(BlockDiagonalOperator<T> other, Func<LinearOperator<T>, LinearOperator<T>, bool> fits)
    {
        if (other._blocks.Length != _blocks.Length) return false;
        for (int t = 0; t < _blocks.Length; t++) if (!fits(_blocks[t], other._blocks[t])) return false;
        return true;
    }
}
