using System.Numerics;
using CurvNative.Kernels;
using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// Operators whose trace, log-determinant and Frobenius norm follow exactly from their structure (Kronecker and
/// Kronecker-eigenbasis blocks, block diagonals of them). Accumulated in double whatever the element type.
/// </summary>
internal interface IExactFunctionals
{
    /// <summary>tr(A).</summary>
    double TraceInDouble();
    /// <summary>‖A‖_F².</summary>
    double FrobeniusSquaredInDouble();
    /// <summary>log det A: −∞ for a singular operator, NaN for a negative determinant.</summary>
    double LogDeterminantInDouble();
}

/// <summary>
/// The Kronecker algebra shared by <see cref="KroneckerOperator{T}"/>, <see cref="KroneckerEigenOperator{T}"/> and the
/// curvature operators built from them (KFAC, EKFAC and their damped inverses): products through the kernel seam,
/// symmetric eigendecompositions, and the one singularity rule of the damped inverses.
/// </summary>
internal static class KroneckerAlgebra
{
    /// <summary>A resident buffer of <paramref name="backend"/> for a factor stored in <paramref name="f"/>.</summary>
    public static KernelBuffer<T> Resident<T>(IKernelBackend backend, Tensor<T> f) where T : unmanaged, IFloatingPointIeee754<T>
        => KernelBackends.Resident(backend, f.Buffer, f.Offset, f.Length);

    /// <summary>
    /// Y = (op(G) ⊗ op(A)) X for X [gDim·aDim, K] (the operator layout, one column per vector) through
    /// <see cref="IKernelBackend.KroneckerMatmat{T}"/>, which takes the K vectors as rows: one column needs no copy,
    /// more are transposed in and out.
    /// </summary>
    public static Tensor<T> Apply<T>(IKernelBackend backend, int gDim, int aDim, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA, Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = gDim * aDim, k = x.Shape[1];
        if (k == 1)
        {
            var y1 = Tensor<T>.Uninitialized(n, 1);
            backend.KroneckerMatmat(gDim, aDim, 1, g, transG, a, transA, x.Span, y1.Span);
            return y1;
        }
        var xt = Tensor<T>.Uninitialized(k, n);
        DenseKernels.SwapLeadingAxes<T>(x.Span, n, k, 1, xt.Span);
        var yt = Tensor<T>.Uninitialized(k, n);
        backend.KroneckerMatmat(gDim, aDim, k, g, transG, a, transA, xt.Span, yt.Span);
        var y = Tensor<T>.Uninitialized(n, k);
        DenseKernels.SwapLeadingAxes<T>(yt.Span, k, n, 1, y.Span);
        return y;
    }

    /// <summary>
    /// Eigendecomposition M = Q diag(w) Qᵀ of a symmetric matrix (Q's columns the eigenvectors, ascending w) through
    /// LAPACK syevd; a float32 decomposition that fails or yields non-finite values is retried in float64.
    /// </summary>
    public static (Tensor<T> Q, double[] W) Eigh<T>(Tensor<T> m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = m.Shape[0];
        if (typeof(T) == typeof(float))
        {
            try
            {
                var a = m.Clone(); var w = new T[n];
                DenseKernels.SymmetricEigenInPlace<T>(n, a.Span, w);
                if (a.AllFinite() && w.All(T.IsFinite))
                    return (TransposeInPlace(a, n), w.Select(double.CreateTruncating).ToArray());
            }
            catch (LapackException) { }
        }
        var ad = m.Cast<double>(); var wd = new double[n];
        DenseKernels.SymmetricEigenInPlace<double>(n, ad.Span, wd);
        return (TransposeInPlace(ad, n).Cast<T>(), wd);
    }

    // LAPACK leaves V^T row-major; Q = V. The matrix is ours and square, so it is transposed in place instead of
    // copied (a [2048, 2048] factor is 17 MB in float32).
    private static unsafe Tensor<TE> TransposeInPlace<TE>(Tensor<TE> a, int n) where TE : unmanaged, IFloatingPointIeee754<TE>
    {
        fixed (TE* p = a.Span) SquareMatrix.TransposeInPlace(p, n);
        return a;
    }

    /// <summary>log det of a symmetric PSD n x n matrix via its eigenvalues (in double); eigenvalues at or below
    /// n ε max|λ| count as zero, so a singular matrix gives −∞ instead of NaN or rounding noise.</summary>
    public static double SymmetricLogDet<T>(ReadOnlySpan<T> m, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n == 0) return 0;
        var copy = new double[n * n];
        for (int i = 0; i < copy.Length; i++) copy[i] = double.CreateTruncating(m[i]);
        var w = new double[n];
        DenseKernels.SymmetricEigenInPlace<double>(n, copy, w, computeVectors: false);
        return LogDetOfEigenvalues(w, n);
    }

    /// <summary>Σ log λ over eigenvalues of an operator of dimension <paramref name="n"/>: −∞ when one is at or below
    /// n · 2.2e-16 · max|λ| (numerically zero or negative).</summary>
    public static double LogDetOfEigenvalues(ReadOnlySpan<double> w, int n)
    {
        double max = 0;
        foreach (var l in w) max = Math.Max(max, Math.Abs(l));
        double tol = n * 2.2e-16 * max, s = 0;
        foreach (var l in w)
        {
            if (l <= tol) return double.NegativeInfinity;
            s += Math.Log(l);
        }
        return s;
    }

    /// <summary>
    /// The reciprocals of a block's damped eigenvalues, the one place where the damped inverses of KFAC, EKFAC and the
    /// Kronecker blocks decide singularity: a value at or below n · ε(T) · max|value| (n = <paramref name="dimension"/>,
    /// the larger factor dimension) throws <see cref="SingularOperatorException"/> instead of returning amplified
    /// rounding noise.
    /// </summary>
    public static Tensor<T> InverseEigenvalues<T>(ReadOnlySpan<double> damped, int[] shape, int dimension, string block, double damping)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double max = 0;
        foreach (var v in damped) max = Math.Max(max, Math.Abs(v));
        double threshold = Math.Max(1, dimension) * Precision.Epsilon<T>() * max;
        var r = Tensor<T>.Zeros(shape);
        var rs = r.Span;
        for (int i = 0; i < damped.Length; i++)
        {
            if (!(damped[i] > threshold) || max == 0)
                throw new SingularOperatorException($"The damped block of {block}", damped[i], max, threshold, damping);
            rs[i] = T.CreateTruncating(1 / damped[i]);
        }
        return r;
    }

    /// <summary>Throws unless the damping is finite and non-negative.</summary>
    public static void CheckDamping(double damping, string name = "damping")
    {
        if (!(damping >= 0) || double.IsInfinity(damping))
            throw new ArgumentOutOfRangeException(name, $"Damping must be finite and non-negative, got {damping}.");
    }
}
