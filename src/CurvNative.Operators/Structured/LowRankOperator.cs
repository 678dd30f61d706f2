using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// U C Vᵀ with U [n, r], C [r, r], V [m, r]: an [n, m] operator of rank ≤ r applied as
/// U (C (Vᵀ X)) in O(K r (n + m + r)). Symmetric when V is the same tensor object as U and C = Cᵀ
/// exactly; positive semi-definite when, in addition, C is promised PSD.
/// </summary>
public sealed class LowRankOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _u, _c, _v; // _v may be _u
    private readonly int _n, _m, _r;

    /// <summary>U C Vᵀ with the factors copied (once, when <paramref name="v"/> is <paramref name="u"/>).</summary>
    /// <param name="u">U, [n, r].</param>
    /// <param name="c">C, [r, r].</param>
    /// <param name="v">V, [m, r]; pass the same object as <paramref name="u"/> for a symmetric U C Uᵀ.</param>
    /// <param name="outputSpace">Codomain of dimension n (default R^n).</param>
    /// <param name="inputSpace">Domain of dimension m (default R^m).</param>
    /// <param name="isPositiveSemiDefinite">Unchecked promise that C ⪰ 0; only allowed for the symmetric form U C Uᵀ.</param>
    /// <exception cref="ArgumentException">Factor shapes do not chain, a space has the wrong dimension, or a PSD promise for a non-symmetric form.</exception>
    public LowRankOperator(Tensor<T> u, Tensor<T> c, Tensor<T> v, Space? outputSpace = null, Space? inputSpace = null,
        bool isPositiveSemiDefinite = false)
        : this(Validate(u, c, v, outputSpace, inputSpace, isPositiveSemiDefinite), outputSpace, inputSpace, isPositiveSemiDefinite) { }

    private LowRankOperator((T[] U, T[] C, T[] V, int N, int M, int R, bool Sym) f, Space? output, Space? input, bool psd)
        : this(f.U, f.C, f.V, f.N, f.M, f.R, output ?? Space.Flat(f.N), input ?? Space.Flat(f.M), f.Sym, psd) { }

    private LowRankOperator(T[] u, T[] c, T[] v, int n, int m, int r, Space output, Space input, bool sym, bool psd)
        : base(output, input, sym, psd)
    {
        _u = u; _c = c; _v = v;
        _n = n; _m = m; _r = r;
    }

    private static (T[], T[], T[], int, int, int, bool) Validate(Tensor<T> u, Tensor<T> c, Tensor<T> v,
        Space? output, Space? input, bool psd)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(v);
        if (u.Rank != 2 || c.Rank != 2 || v.Rank != 2 || c.Shape[0] != u.Shape[1] || c.Shape[1] != u.Shape[1] || v.Shape[1] != u.Shape[1])
            throw new ArgumentException(
                $"A low-rank operator U C Vᵀ needs U [n, r], C [r, r], V [m, r], but got U {Shape.Format(u.Shape)}, C {Shape.Format(c.Shape)}, V {Shape.Format(v.Shape)}.",
                nameof(c));
        int n = u.Shape[0], r = u.Shape[1], m = v.Shape[0];
        if (output is not null && output.Dimension != n)
            throw new ArgumentException($"U has shape {Shape.Format(u.Shape)} but the output space {output} has dimension {output.Dimension} instead of {n}.", "outputSpace");
        if (input is not null && input.Dimension != m)
            throw new ArgumentException($"V has shape {Shape.Format(v.Shape)} but the input space {input} has dimension {input.Dimension} instead of {m}.", "inputSpace");
        var cs = c.Span;
        bool sym = ReferenceEquals(u, v);
        for (int i = 0; i < r && sym; i++)
            for (int j = 0; j < i && sym; j++)
                sym = cs[i * r + j] == cs[j * r + i];
        if (psd && !sym)
            throw new ArgumentException("A positive semi-definite low-rank operator must have the form U C Uᵀ (v the same object as u) with C = Cᵀ.", nameof(psd));
        var uc = u.ToArray();
        return (uc, c.ToArray(), sym ? uc : v.ToArray(), n, m, r, sym);
    }

    /// <summary>The rank bound r (columns of U and V).</summary>
    public int Rank => _r;

    /// <summary>Y = U (C (Vᵀ X)): three GEMMs.</summary>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var t1 = DenseKernels.MatMulTensor<T>(_v, _m, _r, true, x.Span, _m, k, false);      // Vᵀ X, [r, K]
        var t2 = DenseKernels.MatMulTensor<T>(_c, _r, _r, false, t1.Span, _r, k, false);    // C (Vᵀ X)
        return DenseKernels.MatMulTensor<T>(_u, _n, _r, false, t2.Span, _r, k, false);      // U (…), [n, K]
    }

    /// <summary>(U C Vᵀ)ᵀ = V Cᵀ Uᵀ.</summary>
    protected override LinearOperator<T> TransposeCore()
        => new LowRankOperator<T>(_v, DenseKernels.Transpose<T>(_c, _r, _r).ToArray(), _u, _m, _n, _r, InputSpace, OutputSpace, false, false);

    /// <summary>U (C Vᵀ) by two GEMMs.</summary>
    protected override Tensor<T> ToDenseCore()
    {
        var cvt = DenseKernels.MatMulTensor<T>(_c, _r, _r, false, _v, _m, _r, true);          // C Vᵀ, [r, m]
        return DenseKernels.MatMulTensor<T>(_u, _n, _r, false, cvt.Span, _r, _m, false);
    }
}
