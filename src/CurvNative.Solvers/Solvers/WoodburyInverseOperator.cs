using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Native;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers;

/// <summary>
/// The inverse (D + U C Uᵀ)⁻¹ of a diagonal plus symmetric low-rank matrix, with D = λ I (damped low-rank
/// curvature) or any diagonal D = diag(d) with non-zero entries, by the Sherman–Morrison–Woodbury identity
/// (Woodbury 1950; Hager 1989, "Updating the inverse of a matrix", SIAM Review 31):
/// (D + U C Uᵀ)⁻¹ = D⁻¹ − D⁻¹ U (C⁻¹ + Uᵀ D⁻¹ U)⁻¹ Uᵀ D⁻¹.
/// Set up once (O(n r² + r³)); each product costs O(n r K) for K columns.
/// </summary>
/// <remarks>
/// <para>
/// C⁻¹ is never formed, so a singular C (a low-rank factor with some zero weights) is fine. Instead C = V Γ Vᵀ
/// is diagonalised (r × r), directions with |γ_i| ≤ 1e-14 max|γ| are dropped, and W = U V |Γ|^{1/2},
/// S = sign(Γ) give U C Uᵀ = W S Wᵀ and the equivalent, well-conditioned form
/// (D + W S Wᵀ)⁻¹ = D⁻¹ − D⁻¹ W (S + Wᵀ D⁻¹ W)⁻¹ Wᵀ D⁻¹
/// (for D = λI and C ≻ 0 the core S + WᵀW/λ = C^{1/2}(C⁻¹ + UᵀU/λ)C^{1/2} is the classic capacitance
/// matrix up to a congruence). When D ≻ 0 and C ⪰ 0 the core is symmetric positive definite with eigenvalues
/// ≥ 1 and is factorised by Cholesky (LAPACK xPOTRF); otherwise (indefinite C or D) it is diagonalised and
/// the construction fails if it is numerically singular, i.e. if D + U C Uᵀ is.
/// </para>
/// <para>Always symmetric; flagged positive semi-definite when D ≻ 0 and C ⪰ 0. All set-up arithmetic is in double.</para>
/// </remarks>
/// <typeparam name="T">Element type (float or double).</typeparam>
public sealed class WoodburyInverseOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double[] _dinv;   // D⁻¹ diagonal, [n]
    private readonly double[] _w;      // D⁻¹ W, [n, q]
    private readonly int _n, _q;
    private readonly double[]? _cholesky; // L of the core, [q, q] (lower triangle)
    private readonly double[]? _eigVectors; // rows: eigenvectors of the core
    private readonly double[]? _eigInverse; // 1/θ

    /// <summary>(λ I + U C Uᵀ)⁻¹.</summary>
    /// <param name="u">U, [n, r].</param>
    /// <param name="c">C, [r, r], symmetric (checked to rounding).</param>
    /// <param name="damping">λ ≠ 0, finite (typically &gt; 0).</param>
    /// <param name="space">The space of the operator (default R^n).</param>
    /// <exception cref="ArgumentException">Shapes do not chain, C is not symmetric, λ = 0, or the space has the wrong dimension.</exception>
    /// <exception cref="InvalidOperationException">λ I + U C Uᵀ is numerically singular.</exception>
    public WoodburyInverseOperator(Tensor<T> u, Tensor<T> c, double damping, Space? space = null)
        : this(ConstantDiagonal(u, damping), u, c, space) { }

    /// <summary>(diag(d) + U C Uᵀ)⁻¹.</summary>
    /// <param name="diagonal">d, [n], finite, no zero entry.</param>
    /// <param name="u">U, [n, r].</param>
    /// <param name="c">C, [r, r], symmetric (checked to rounding).</param>
    /// <param name="space">The space of the operator (default R^n).</param>
    /// <exception cref="ArgumentException">Shapes do not chain, C is not symmetric, d has a zero or non-finite entry, or the space has the wrong dimension.</exception>
    /// <exception cref="InvalidOperationException">diag(d) + U C Uᵀ is numerically singular.</exception>
    public WoodburyInverseOperator(Tensor<T> diagonal, Tensor<T> u, Tensor<T> c, Space? space = null)
        : this(Setup(diagonal, u, c, space), space) { }

    private WoodburyInverseOperator((double[] Dinv, double[] DinvW, int N, int Q, double[]? Chol, double[]? Vecs, double[]? Inv, bool Psd) s, Space? space)
        : base(space ?? Space.Flat(s.N), space ?? Space.Flat(s.N), isSymmetric: true, isPositiveSemiDefinite: s.Psd)
    {
        _dinv = s.Dinv; _w = s.DinvW; _n = s.N; _q = s.Q;
        _cholesky = s.Chol; _eigVectors = s.Vecs; _eigInverse = s.Inv;
    }

    /// <summary>Rank of the low-rank term after dropping zero weights of C.</summary>
    public int Rank => _q;

    /// <summary>True when the core was factorised by Cholesky (D ≻ 0, C ⪰ 0), false when by an eigendecomposition.</summary>
    public bool UsesCholesky => _cholesky is not null;

    private static Tensor<T> ConstantDiagonal(Tensor<T> u, double damping)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 2) throw new ArgumentException($"U must be a matrix [n, r] but has shape {Shape.Format(u.Shape)}.", nameof(u));
        if (damping == 0 || !double.IsFinite(damping))
            throw new ArgumentOutOfRangeException(nameof(damping), damping, $"The damping λ must be finite and non-zero (λI + UCUᵀ is singular for λ = 0 when r < n), but is {damping}.");
        return Tensor<T>.Full(T.CreateTruncating(damping), u.Shape[0]);
    }

    private static (double[], double[], int, int, double[]?, double[]?, double[]?, bool) Setup(Tensor<T> diagonal, Tensor<T> u, Tensor<T> c, Space? space)
    {
        ArgumentNullException.ThrowIfNull(diagonal);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(c);
        if (u.Rank != 2 || c.Rank != 2 || c.Shape[0] != u.Shape[1] || c.Shape[1] != u.Shape[1] || diagonal.Rank != 1 || diagonal.Shape[0] != u.Shape[0])
            throw new ArgumentException(
                $"The Woodbury inverse of diag(d) + U C Uᵀ needs d [n], U [n, r], C [r, r], but got d {Shape.Format(diagonal.Shape)}, U {Shape.Format(u.Shape)}, C {Shape.Format(c.Shape)}.",
                nameof(c));
        int n = u.Shape[0], r = u.Shape[1];
        if (space is not null && space.Dimension != n)
            throw new ArgumentException($"U has shape {Shape.Format(u.Shape)} but the space {space} has dimension {space.Dimension} instead of {n}.", nameof(space));
        var d = DenseKernels.ToDouble<T>(diagonal.Span);
        var dinv = new double[n];
        bool dPositive = true;
        for (int i = 0; i < n; i++)
        {
            if (d[i] == 0 || !double.IsFinite(d[i]))
                throw new ArgumentException($"The diagonal must be finite with no zero entry, but d[{i}] = {d[i]}.", nameof(diagonal));
            dinv[i] = 1.0 / d[i];
            dPositive &= d[i] > 0;
        }
        var cd = DenseKernels.ToDouble<T>(c.Span);
        double cmax = 0;
        foreach (var v in cd) cmax = Math.Max(cmax, Math.Abs(v));
        if (!double.IsFinite(cmax)) throw new ArgumentException("C holds NaN or infinite entries.", nameof(c));
        for (int i = 0; i < r; i++)
            for (int j = 0; j < i; j++)
                if (Math.Abs(cd[i * r + j] - cd[j * r + i]) > 1e-12 * cmax * Math.Max(1, r))
                    throw new ArgumentException(
                        $"C must be symmetric, but C[{i}, {j}] = {cd[i * r + j]} and C[{j}, {i}] = {cd[j * r + i]}.", nameof(c));

        // C = V Γ Vᵀ; W = U V |Γ|^{1/2} over the non-negligible γ; S = sign(Γ).
        var (gamma, vecs) = r == 0 ? ([], []) : DenseKernels.SymmetricEigen(cd, r);
        double gmax = gamma.Length == 0 ? 0 : Math.Max(Math.Abs(gamma[0]), Math.Abs(gamma[^1]));
        var kept = Enumerable.Range(0, r).Where(i => Math.Abs(gamma[i]) > 1e-14 * gmax).ToArray();
        int q = kept.Length;
        var vs = new double[r * q];
        var sign = new double[q];
        bool cPsd = true;
        for (int j = 0; j < q; j++)
        {
            int e = kept[j];
            double s = Math.Sqrt(Math.Abs(gamma[e]));
            sign[j] = Math.Sign(gamma[e]);
            cPsd &= gamma[e] > 0;
            for (int i = 0; i < r; i++) vs[i * q + j] = vecs[e * r + i] * s;
        }
        var ud = DenseKernels.ToDouble<T>(u.Span);
        var w = DenseKernels.MatMulArray<double>(ud, n, r, false, vs, r, q, false);        // [n, q]
        var dw = new double[n * q];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < q; j++) dw[i * q + j] = dinv[i] * w[i * q + j];
        var core = DenseKernels.MatMulArray<double>(w, n, q, true, dw, n, q, false);       // Wᵀ D⁻¹ W
        for (int j = 0; j < q; j++) core[j * q + j] += sign[j];
        DenseKernels.Symmetrize(core, q);

        bool psd = dPositive && cPsd;
        if (psd)
        {
            var l = (double[])core.Clone();
            if (DenseKernels.TryCholesky<double>(q, l) == 0) return (dinv, dw, n, q, l, null, null, true);
        }
        var (theta, qv) = DenseKernels.SymmetricEigen(core, q);
        double tmax = theta.Length == 0 ? 0 : Math.Max(Math.Abs(theta[0]), Math.Abs(theta[^1]));
        var inv = new double[q];
        for (int j = 0; j < q; j++)
        {
            if (!(Math.Abs(theta[j]) > 1e-13 * Math.Max(tmax, 1)))
                throw new InvalidOperationException(
                    $"diag(d) + U C Uᵀ is numerically singular: the Woodbury core S + Wᵀ D⁻¹ W has eigenvalue {theta[j]:G3} (largest magnitude {tmax:G3}); add damping or check the signs of d and C.");
            inv[j] = 1.0 / theta[j];
        }
        return (dinv, dw, n, q, null, qv, inv, psd);
    }

    /// <summary>Y = D⁻¹X − (D⁻¹W) K⁻¹ (Wᵀ D⁻¹ X) with K the core.</summary>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var xd = DenseKernels.ToDouble<T>(x.Span);
        var y = new double[_n * k];
        for (int i = 0; i < _n; i++)
            for (int c = 0; c < k; c++) y[i * k + c] = _dinv[i] * xd[i * k + c];
        if (_q > 0)
        {
            var t = DenseKernels.MatMulArray<double>(_w, _n, _q, true, xd, _n, k, false); // (D⁻¹W)ᵀ X = Wᵀ D⁻¹ X, [q, k]
            if (_cholesky is not null) DenseKernels.CholeskySolve<double>(_q, k, _cholesky, t);
            else
            {
                var z = DenseKernels.MatMulArray<double>(_eigVectors!, _q, _q, false, t, _q, k, false); // Qᵀ t (rows of _eigVectors are eigenvectors)
                for (int j = 0; j < _q; j++)
                    for (int c = 0; c < k; c++) z[j * k + c] *= _eigInverse![j];
                t = DenseKernels.MatMulArray<double>(_eigVectors!, _q, _q, true, z, _q, k, false);
            }
            DenseKernels.Gemm(false, false, _n, k, _q, -1.0, _w, _q, t, k, 1.0, y, k);
        }
        return DenseKernels.ToTensor<T>(y, _n, k);
    }
}
