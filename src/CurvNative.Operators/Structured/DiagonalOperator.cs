using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// D = diag(d): (D X)[i, k] = d_i X[i, k]. Always symmetric; positive semi-definite exactly when
/// every d_i ≥ 0 (checked at construction, NaN counts as not ≥ 0).
/// </summary>
public sealed class DiagonalOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _d;

    /// <summary>diag(<paramref name="diagonal"/>) on <paramref name="space"/> (default: R^n); the vector is copied.</summary>
    /// <exception cref="ArgumentException">The diagonal is not a vector, or its length is not the space's dimension.</exception>
    public DiagonalOperator(Tensor<T> diagonal, Space? space = null)
        : this(Validate(diagonal, space), space ?? Space.Flat(diagonal.Length)) { }

    private DiagonalOperator(T[] d, Space space)
        : base(space, space, isSymmetric: true, isPositiveSemiDefinite: AllNonNegative(d))
        => _d = d;

    private static T[] Validate(Tensor<T> diagonal, Space? space)
    {
        ArgumentNullException.ThrowIfNull(diagonal);
        if (diagonal.Rank != 1)
            throw new ArgumentException($"A diagonal operator needs a vector, but the diagonal has shape {Shape.Format(diagonal.Shape)}.", nameof(diagonal));
        if (space is not null && space.Dimension != diagonal.Length)
            throw new ArgumentException(
                $"The diagonal has shape {Shape.Format(diagonal.Shape)} but the space {space} has dimension {space.Dimension}.", nameof(diagonal));
        return diagonal.ToArray();
    }

    private static bool AllNonNegative(T[] d)
    {
        foreach (var v in d) if (!(v >= T.Zero)) return false;
        return true;
    }

    internal static DiagonalOperator<T> Constant(Space space, T value)
    {
        var d = new T[space.Dimension];
        d.AsSpan().Fill(value);
        return new DiagonalOperator<T>(d, space);
    }

    /// <summary>diag(d + s).</summary>
    internal DiagonalOperator<T> Shifted(T s)
    {
        var d = (T[])_d.Clone();
        for (int i = 0; i < d.Length; i++) d[i] += s;
        return new DiagonalOperator<T>(d, OutputSpace);
    }

    /// <summary>A copy of the diagonal d as a vector of length n.</summary>
    public Tensor<T> GetDiagonal() => Tensor<T>.FromArray((T[])_d.Clone(), _d.Length);

    /// <inheritdoc/>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var y = Tensor<T>.Uninitialized(Rows, k);
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < _d.Length; i++) DenseKernels.Scale(xs.Slice(i * k, k), _d[i], ys.Slice(i * k, k));
        return y;
    }

    /// <inheritdoc/>
    protected override Tensor<T> ToDenseCore()
    {
        var m = Tensor<T>.Zeros(Rows, Columns);
        for (int i = 0; i < _d.Length; i++) m.Span[i * Columns + i] = _d[i];
        return m;
    }

    /// <summary>diag(a) + diag(b) = diag(a + b); diag(d) + I = diag(d + 1).</summary>
    protected override LinearOperator<T>? TryAdd(LinearOperator<T> other)
    {
        if (other is IdentityOperator<T>) return Shifted(T.One);
        if (other is not DiagonalOperator<T> o) return null;
        var d = new T[_d.Length];
        DenseKernels.AddInPlace(d, _d);
        DenseKernels.AddInPlace(d, o._d);
        return new DiagonalOperator<T>(d, OutputSpace);
    }

    /// <summary>α diag(d) = diag(α d).</summary>
    protected override LinearOperator<T>? TryScale(T alpha)
    {
        var d = new T[_d.Length];
        DenseKernels.Scale(_d, alpha, d);
        return new DiagonalOperator<T>(d, OutputSpace);
    }

    /// <summary>diag(a) diag(b) = diag(a ⊙ b).</summary>
    protected override LinearOperator<T>? TryCompose(LinearOperator<T> inner)
    {
        if (inner is not DiagonalOperator<T> o) return null;
        var d = new T[_d.Length];
        for (int i = 0; i < d.Length; i++) d[i] = _d[i] * o._d[i];
        return new DiagonalOperator<T>(d, OutputSpace);
    }
}
