using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Tensors;

namespace CurvNative.Solvers.Internal;

/// <summary>Argument validation shared by the public entry points; every message names what was expected and what was received.</summary>
internal static class Checks
{
    /// <summary>The operator maps a space to itself (needed for A x = b, traces, diagonals, eigenvalues).</summary>
    public static void Square<T>(LinearOperator<T> op, string paramName, string method) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(op, paramName);
        if (op.InputSpace != op.OutputSpace)
            throw new ArgumentException(
                $"{method} needs a square operator mapping a space to itself, but {op.Describe()} maps {op.InputSpace} (dimension {op.Columns}) to {op.OutputSpace} (dimension {op.Rows}).",
                paramName);
    }

    /// <summary>The operator is flagged symmetric (<see cref="LinearOperator{T}.IsSymmetric"/>).</summary>
    public static void Symmetric<T>(LinearOperator<T> op, string paramName, string method, string hint) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Square(op, paramName, method);
        if (!op.IsSymmetric)
            throw new ArgumentException(
                $"{method} needs a symmetric operator, but {op.Describe()} is not flagged symmetric (IsSymmetric = false). {hint}",
                paramName);
    }

    /// <summary>A second operator (preconditioner) acts on the same space as the first.</summary>
    public static void SameSpace<T>(LinearOperator<T> op, LinearOperator<T> other, string paramName, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (other.InputSpace != op.InputSpace || other.OutputSpace != op.InputSpace)
            throw new ArgumentException(
                $"The {what} must map the operator's space {op.InputSpace} to itself, but it maps {other.InputSpace} -> {other.OutputSpace}.",
                paramName);
    }

    /// <summary>
    /// The number of matrix-vector products of a randomized method: at least <paramref name="minimum"/>,
    /// a multiple of <paramref name="multiple"/> (unless it equals n, which buys the exact answer), and at most n.
    /// </summary>
    public static void MatVecs(int matVecs, int n, int minimum, int multiple, string method, string paramName = "matVecs")
    {
        if (matVecs > n)
            throw new ArgumentOutOfRangeException(paramName, matVecs,
                $"{method}: {matVecs} matrix-vector products exceed the dimension n = {n}; at most n are useful (n products give the exact value).");
        if (matVecs == n && n > 0) return;
        if (matVecs < minimum)
            throw new ArgumentOutOfRangeException(paramName, matVecs,
                $"{method} needs at least {minimum} matrix-vector products{(multiple > 1 ? $" (a multiple of {multiple})" : "")}, but got {matVecs}.");
        if (matVecs % multiple != 0)
            throw new ArgumentException(
                $"{method} needs a number of matrix-vector products that is a multiple of {multiple}, but got {matVecs} (nearest valid: {matVecs / multiple * multiple} or {(matVecs / multiple + 1) * multiple}).",
                paramName);
    }

    /// <summary>A right-hand side of shape [n] or [n, K] with finite entries; returns K (1 for a vector).</summary>
    public static int RightHandSide<T>(Tensor<T> b, int n, string paramName) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(b, paramName);
        if (!((b.Rank == 1 && b.Shape[0] == n) || (b.Rank == 2 && b.Shape[0] == n)))
            throw new ArgumentException(
                $"Expected a right-hand side of shape [{n}] or [{n}, K] but got shape {Shape.Format(b.Shape)}.", paramName);
        int k = b.Rank == 1 ? 1 : b.Shape[1];
        int bad = DenseKernels.FirstNonFiniteColumn<T>(b.Span, n, k);
        if (bad >= 0)
            throw new ArgumentException(
                $"The right-hand side {(b.Rank == 1 ? "" : $"column {bad} ")}holds NaN or infinite entries; expected finite values.", paramName);
        return k;
    }
}
