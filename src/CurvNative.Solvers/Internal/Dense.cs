using System.Numerics;
using CurvNative.Kernels;
using CurvNative.Operators;

namespace CurvNative.Solvers.Internal;

/// <summary>
/// The solvers' bridge between double [n, K] blocks and an operator's matmat; every dense kernel itself lives in
/// <see cref="DenseKernels"/> (Core), the one dense-kernel place beneath the kernel seam.
/// </summary>
internal static class Dense
{
    /// <summary>Y = A X for X given as doubles [n, k]; the result as doubles [rows, k]. K = 0 gives an empty result.</summary>
    public static double[] Apply<T>(LinearOperator<T> op, ReadOnlySpan<double> x, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k == 0) return [];
        var y = op.MatMat(DenseKernels.ToTensor<T>(x, op.Columns, k));
        return DenseKernels.ToDouble<T>(y.Span);
    }
}
