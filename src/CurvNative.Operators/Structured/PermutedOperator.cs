using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// Pᵀ B P for a permutation P of the coordinates: (Pᵀ B P x)[perm[i]] = (B u)[i] with u[i] = x[perm[i]]. KFAC's joint
/// weight-and-bias block is G ⊗ A_aug on the matrix [W | b], whose row-major vec interleaves the bias into the
/// weight rows, while the parameter space stores W then b; this node maps one layout onto the other. Traces,
/// determinants, norms and inverses are those of B (a permutation similarity keeps them).
/// </summary>
internal sealed class PermutedOperator<T> : LinearOperator<T>, IExactFunctionals, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _perm;

    /// <summary>Pᵀ <paramref name="inner"/> P on <paramref name="space"/>; <paramref name="perm"/>[i] is the coordinate of
    /// <paramref name="space"/> that is coordinate i of the inner operator's (square) space.</summary>
    public PermutedOperator(LinearOperator<T> inner, int[] perm, Space space)
        : base(space, space, inner.IsSymmetric, inner.IsPositiveSemiDefinite)
    {
        if (inner.Rows != inner.Columns || perm.Length != inner.Columns || space.Dimension != perm.Length)
            throw new ArgumentException($"A permutation of {perm.Length} coordinates does not fit {inner.Describe()} on {space}.");
        Inner = inner;
        _perm = perm;
    }

    /// <summary>B.</summary>
    public LinearOperator<T> Inner { get; }

    /// <summary>Pᵀ f(B) P for another operator f(B) on B's space (an inverse).</summary>
    public PermutedOperator<T> With(LinearOperator<T> inner) => new(inner, _perm, InputSpace);

    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int n = _perm.Length, k = x.Shape[1];
        var u = Tensor<T>.Uninitialized(n, k);
        ReadOnlySpan<T> xs = x.Span; var us = u.Span;
        for (int i = 0; i < n; i++) xs.Slice(_perm[i] * k, k).CopyTo(us.Slice(i * k, k));
        var v = Inner.Apply(u);
        var y = Tensor<T>.Uninitialized(n, k);
        ReadOnlySpan<T> vs = v.Span; var ys = y.Span;
        for (int i = 0; i < n; i++) vs.Slice(i * k, k).CopyTo(ys.Slice(_perm[i] * k, k));
        return y;
    }

    protected override LinearOperator<T> TransposeCore() => With(Inner.Transpose());

    double IExactFunctionals.TraceInDouble() => Functionals.TraceInDouble();
    double IExactFunctionals.FrobeniusSquaredInDouble() => Functionals.FrobeniusSquaredInDouble();
    double IExactFunctionals.LogDeterminantInDouble() => Functionals.LogDeterminantInDouble();

    private IExactFunctionals Functionals => Inner as IExactFunctionals
        ?? throw new InvalidOperationException($"{Inner.Describe()} has no exact trace, norm or determinant.");

    public void Dispose() => (Inner as IDisposable)?.Dispose();
}
