using System.Numerics;
using CurvNative.Native;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>
/// A block-diagonal operator in Kronecker eigenbases: per layer, the weight (or joint) block
/// V -> Q_G ((Q_G^T V Q_A) ∘ Lambda) Q_A^T and the bias block v -> Q_G (LambdaBias ∘ (Q_G^T v)).
/// EKFAC is such an operator, and so are the damped inverses of KFAC and EKFAC (with Lambda holding
/// inverse eigenvalues), which is why they share this one implementation.
/// </summary>
public sealed class KroneckerEigenbasis<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<Parameter<T>, int> _offsets;

    internal KroneckerEigenbasis(Space space, Dictionary<Parameter<T>, int> offsets, IReadOnlyList<EkfacBlock<T>> blocks)
        : base(space, space, isSymmetric: true, isPositiveSemiDefinite: blocks.All(b => NonNegative(b.Lambda) && NonNegative(b.LambdaBias)))
    {
        _offsets = offsets;
        Blocks = blocks;
    }

    public IReadOnlyList<EkfacBlock<T>> Blocks { get; }

    private static bool NonNegative(Tensor<T>? t) => t is null || t.Span.ToArray().All(v => v >= T.Zero);

    protected override Tensor<T> MatMatCore(Tensor<T> x) => Apply(Blocks, _offsets, x);

    protected override LinearOperator<T> TransposeCore() => this;

    /// <summary>Applies the blocks to the K columns of x [P, K].</summary>
    internal static Tensor<T> Apply(IReadOnlyList<EkfacBlock<T>> blocks, Dictionary<Parameter<T>, int> offsets, Tensor<T> x)
    {
        int p = x.Shape[0], k = x.Shape[1];
        var xt = TensorOps.Permute(x, [1, 0]);
        var yt = Tensor<T>.Zeros(k, p);
        foreach (var b in blocks)
            for (int col = 0; col < k; col++)
                ApplyBlock(b, offsets, xt.Span.Slice(col * p, p), yt.Span.Slice(col * p, p));
        return TensorOps.Permute(yt, [1, 0]);
    }

    private static void ApplyBlock(EkfacBlock<T> b, Dictionary<Parameter<T>, int> offsets, ReadOnlySpan<T> x, Span<T> y)
    {
        var layer = b.Layer;
        int o = layer.OutDim, d = layer.InDim, da = layer.FactorInDim;
        if (b.Lambda is not null)
        {
            var v = new T[o * da];
            int wOff = offsets[layer.Weight!];
            for (int i = 0; i < o; i++) x.Slice(wOff + i * d, d).CopyTo(v.AsSpan(i * da, d));
            int bOff = layer.Joint ? offsets[layer.Bias!] : -1;
            if (layer.Joint) for (int i = 0; i < o; i++) v[i * da + d] = x[bOff + i];
            var t1 = new T[o * da]; var t2 = new T[o * da];
            Blas.Gemm(true, false, o, da, o, T.One, b.QG.Span, o, v, da, T.Zero, t1, da);
            Blas.Gemm(false, false, o, da, da, T.One, t1, da, b.QA!.Span, da, T.Zero, t2, da);
            System.Numerics.Tensors.TensorPrimitives.Multiply<T>(t2, b.Lambda.Span, t2);
            Blas.Gemm(false, false, o, da, o, T.One, b.QG.Span, o, t2, da, T.Zero, t1, da);
            Blas.Gemm(false, true, o, da, da, T.One, t1, da, b.QA.Span, da, T.Zero, t2, da);
            for (int i = 0; i < o; i++) t2.AsSpan(i * da, d).CopyTo(y.Slice(wOff + i * d, d));
            if (layer.Joint) for (int i = 0; i < o; i++) y[bOff + i] = t2[i * da + d];
        }
        if (b.LambdaBias is not null)
        {
            int off = offsets[layer.Bias!];
            var t = new T[o]; var r = new T[o];
            Blas.Gemm(true, false, o, 1, o, T.One, b.QG.Span, o, x.Slice(off, o), 1, T.Zero, t, 1);
            System.Numerics.Tensors.TensorPrimitives.Multiply<T>(t, b.LambdaBias.Span, t);
            Blas.Gemm(false, false, o, 1, o, T.One, b.QG.Span, o, t, 1, T.Zero, r, 1);
            r.CopyTo(y.Slice(off, o));
        }
    }

    /// <summary>
    /// The reciprocals of a block's damped eigenvalues, the one place where KFAC's and EKFAC's inverses decide
    /// singularity: a value at or below n · ε(T) · max|value| (n = <paramref name="dimension"/>, the larger factor
    /// dimension) throws <see cref="SingularOperatorException"/> instead of returning amplified rounding noise.
    /// </summary>
    internal static Tensor<T> InverseEigenvalues(ReadOnlySpan<double> damped, int[] shape, int dimension, object block, double damping)
    {
        double max = 0;
        foreach (var v in damped) max = Math.Max(max, Math.Abs(v));
        double threshold = Math.Max(1, dimension) * Precision.Epsilon<T>() * max;
        var r = Tensor<T>.Zeros(shape);
        for (int i = 0; i < damped.Length; i++)
        {
            if (!(damped[i] > threshold) || max == 0)
                throw new SingularOperatorException($"The damped block of {block}", damped[i], max, threshold, damping);
            r.Span[i] = T.CreateTruncating(1 / damped[i]);
        }
        return r;
    }

    /// <summary>
    /// Eigendecomposition M = Q diag(w) Q^T of a symmetric factor (Q's columns the eigenvectors,
    /// ascending w) through LAPACK syevd; a float32 decomposition that fails or yields non-finite
    /// values is retried in float64.
    /// </summary>
    internal static (Tensor<T> Q, double[] W) Eigh(Tensor<T> m)
    {
        int n = m.Shape[0];
        if (typeof(T) == typeof(float))
        {
            try
            {
                var a = m.Clone(); var w = new T[n];
                Lapack.SymmetricEigen<T>(n, a.Span, w);
                if (a.AllFinite() && w.All(T.IsFinite))
                    return (TransposeInPlace(a, n), w.Select(double.CreateTruncating).ToArray());
            }
            catch (LapackException) { }
        }
        var ad = m.Cast<double>(); var wd = new double[n];
        Lapack.SymmetricEigen<double>(n, ad.Span, wd);
        return (TransposeInPlace(ad, n).Cast<T>(), wd);
    }

    // LAPACK leaves V^T row-major; Q = V. The matrix is ours and square, so it is transposed in place instead of
    // copied (a [2048, 2048] factor is 17 MB in float32).
    private static unsafe Tensor<TE> TransposeInPlace<TE>(Tensor<TE> a, int n) where TE : unmanaged, IFloatingPointIeee754<TE>
    {
        fixed (TE* p = a.Span) SquareMatrix.TransposeInPlace(p, n);
        return a;
    }
}
