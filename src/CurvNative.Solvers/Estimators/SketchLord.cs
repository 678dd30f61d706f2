using CurvNative.Kernels;
using System.Collections.Immutable;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers.Estimators;

/// <summary>
/// A symmetric low-rank plus diagonal operator U Λ Uᵀ + diag(d) with orthonormal U [n, r]: a product costs
/// O(n r K) for K columns (two GEMMs and a scaling). Symmetric; flagged positive semi-definite when Λ ≥ 0 and d ≥ 0.
/// Its damped inverse (U Λ Uᵀ + diag(d) + λI)⁻¹ is available in closed form through <see cref="Inverse"/>.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
public sealed class LowRankPlusDiagonalOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double[] _u, _lambda, _d;
    private readonly int _n, _r;

    internal LowRankPlusDiagonalOperator(double[] u, double[] lambda, double[] d, int n, int r, Space space, SketchLordReport report)
        : base(space, space, isSymmetric: true, isPositiveSemiDefinite: lambda.All(x => x >= 0) && d.All(x => x >= 0))
    {
        _u = u; _lambda = lambda; _d = d; _n = n; _r = r;
        Report = report;
    }

    /// <summary>The orthonormal factor U as an [n, r] tensor (a copy).</summary>
    public Tensor<T> LowRankFactor => DenseKernels.ToTensor<T>(_u, _n, _r);

    /// <summary>The eigenvalues Λ of the low-rank part, by decreasing magnitude.</summary>
    public ImmutableArray<double> LowRankEigenvalues => [.. _lambda];

    /// <summary>The diagonal part d as a vector of length n (a copy).</summary>
    public Tensor<T> DiagonalPart => DenseKernels.ToTensor<T>(_d, _n);

    /// <summary>The rank r of the low-rank part.</summary>
    public int LowRank => _r;

    /// <summary>How the sketch was fitted (products, iterations, sketch residual).</summary>
    public SketchLordReport Report { get; }

    /// <summary>
    /// (U Λ Uᵀ + diag(d) + λ I)⁻¹ by the Woodbury identity (<see cref="WoodburyInverseOperator{T}"/>).
    /// </summary>
    /// <param name="damping">λ added to the diagonal (default 0); every d_i + λ must be non-zero.</param>
    /// <exception cref="ArgumentException">Some d_i + λ is zero.</exception>
    /// <exception cref="InvalidOperationException">The damped operator is numerically singular.</exception>
    public WoodburyInverseOperator<T> Inverse(double damping = 0)
    {
        var d = _d.Select(x => x + damping).ToArray();
        var c = new double[_r * _r];
        for (int i = 0; i < _r; i++) c[i * _r + i] = _lambda[i];
        return new WoodburyInverseOperator<T>(DenseKernels.ToTensor<T>(d, _n), DenseKernels.ToTensor<T>(_u, _n, _r), DenseKernels.ToTensor<T>(c, _r, _r), InputSpace);
    }

    /// <summary>Y = U (Λ (Uᵀ X)) + d ⊙ X.</summary>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var xd = DenseKernels.ToDouble<T>(x.Span);
        var y = new double[_n * k];
        for (int i = 0; i < _n; i++)
            for (int c = 0; c < k; c++) y[i * k + c] = _d[i] * xd[i * k + c];
        if (_r > 0)
        {
            var t = DenseKernels.MatMulArray<double>(_u, _n, _r, true, xd, _n, k, false);
            for (int a = 0; a < _r; a++)
                for (int c = 0; c < k; c++) t[a * k + c] *= _lambda[a];
            DenseKernels.Gemm(false, false, _n, k, _r, 1.0, _u, _r, t, k, 1.0, y, k);
        }
        return DenseKernels.ToTensor<T>(y, _n, k);
    }
}

/// <summary>How a low-rank plus diagonal sketch was fitted.</summary>
/// <param name="MatVecs">Number of operator products (the sketch size s).</param>
/// <param name="Iterations">Alternating least-squares iterations (0 for the sequential variants).</param>
/// <param name="Converged">True when the alternating iteration met its tolerance (always true for the sequential variants).</param>
/// <param name="SketchResidual">‖A Ω − (U Λ Uᵀ + D) Ω‖_F / ‖A Ω‖_F, the fit on the sketch itself (0 for an exact LoRD operator).</param>
/// <param name="Mode">The estimation strategy.</param>
public sealed record SketchLordReport(int MatVecs, int Iterations, bool Converged, double SketchResidual, LordMode Mode);

/// <summary>How the low-rank and diagonal parts are estimated from the sketch.</summary>
public enum LordMode
{
    /// <summary>Jointly: alternating least squares on both parts (the point of SketchLoRD).</summary>
    Joint,

    /// <summary>Diagonal first (least-squares diagonal fit of the sketch), then a Nyström low-rank part of the remainder.</summary>
    DiagonalThenLowRank,

    /// <summary>Low-rank first (Nyström of the sketch), then a least-squares diagonal fit of the remainder.</summary>
    LowRankThenDiagonal,
}

/// <summary>Options of <see cref="LowRankPlusDiagonal.SketchLord{T}"/>.</summary>
public sealed record SketchLordOptions
{
    /// <summary>Estimation strategy (default <see cref="LordMode.Joint"/>).</summary>
    public LordMode Mode { get; init; } = LordMode.Joint;

    /// <summary>Probe distribution (default Gaussian).</summary>
    public ProbeDistribution Distribution { get; init; } = ProbeDistribution.Gaussian;

    /// <summary>Seed of the probes.</summary>
    public int Seed { get; init; }

    /// <summary>Maximum alternating iterations of the joint fit (default 1000).</summary>
    public int MaxIterations { get; init; } = 1000;

    /// <summary>Stop the joint fit when the relative decrease of the sketch misfit falls below this (default 1e-12),
    /// or when the misfit itself is below 1e-14 ‖AΩ‖_F.</summary>
    public double Tolerance { get; init; } = 1e-12;
}

/// <summary>
/// Joint low-rank plus diagonal (LoRD) approximation A ≈ U Λ Uᵀ + D of a symmetric operator from one sketch
/// A Ω, in the spirit of SketchLoRD (Fernandez, Dangel, Hennig and Schneider 2025, "Sketching low-rank plus
/// diagonal matrices", arXiv:2509.23587): estimating both parts jointly from the same products beats either
/// sequential order (diagonal-then-low-rank or low-rank-then-diagonal), which are available for comparison.
/// </summary>
/// <remarks>
/// <para>
/// This is not the paper's convex (nuclear-norm, ADMM) program but a sketch-space alternating least-squares
/// fit of the same model, chosen because every step is a small dense problem: with Y = A Ω (s products), a
/// LoRD operator L + D of rank r satisfies Y − D Ω = L Ω, whose rows lie in an r-dimensional subspace 𝒮 of R^s.
/// We minimise f(D, 𝒮) = ‖(Y − D Ω) P_𝒮^⊥‖_F² by alternating (i) 𝒮 = top-r right singular subspace of Y − D Ω
/// (eigenvectors of the s × s Gram matrix) and (ii) the exact row-wise least-squares diagonal
/// d_i = ⟨y_i P^⊥, ω_i P^⊥⟩ / ‖ω_i P^⊥‖², starting from D = 0. Each step cannot increase f, and an exact LoRD
/// operator is a fixed point with f = 0. Then L is recovered from Z = (Y − D Ω) P_𝒮 = L Ω by the symmetric
/// Nyström formula L = Z (Ωᵀ Z)⁺ Zᵀ (exact when rank(L) = r and Ωᵀ L Ω has rank r; Halko, Martinsson and Tropp
/// 2011), with (Ωᵀ Z)⁺ from its r largest-magnitude eigenvalues, and diagonalised as U Λ Uᵀ.
/// </para>
/// <para>
/// Costs: s = matVecs products of A (one MatMat in batches), O(n s²) per iteration, memory O(n s). Needs
/// r + 2 ≤ s ≤ n so that the diagonal is identifiable (each row has s − r ≥ 2 equations beyond the subspace).
/// </para>
/// </remarks>
public static class LowRankPlusDiagonal
{
    /// <summary>A ≈ U Λ Uᵀ + diag(d) with rank(UΛUᵀ) ≤ <paramref name="rank"/> from <paramref name="matVecs"/> products.</summary>
    /// <param name="op">A symmetric operator.</param>
    /// <param name="rank">Rank r ≥ 0 of the low-rank part.</param>
    /// <param name="matVecs">Sketch size s (number of products), r + 2 ≤ s ≤ n.</param>
    /// <param name="options">Mode, probes, iteration limit and tolerance.</param>
    /// <returns>The LoRD operator, itself a <see cref="LinearOperator{T}"/> with a fast MatMat.</returns>
    /// <exception cref="ArgumentException">The operator is not symmetric, or r or s is out of range.</exception>
    public static LowRankPlusDiagonalOperator<T> SketchLord<T>(LinearOperator<T> op, int rank, int matVecs, SketchLordOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "SketchLoRD";
        Checks.Symmetric(op, nameof(op), method, "A low-rank plus diagonal approximation U Λ Uᵀ + D is symmetric.");
        options ??= new SketchLordOptions();
        int n = op.Columns;
        if (rank < 0 || rank > n)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"{method}: the rank must be between 0 and n = {n}, but is {rank}.");
        if (matVecs > n)
            throw new ArgumentOutOfRangeException(nameof(matVecs), matVecs, $"{method}: {matVecs} matrix-vector products exceed the dimension n = {n}.");
        if (matVecs < rank + 2)
            throw new ArgumentOutOfRangeException(nameof(matVecs), matVecs,
                $"{method} needs at least rank + 2 = {rank + 2} matrix-vector products to identify the diagonal next to a rank-{rank} part, but got {matVecs}.");
        if (options.MaxIterations < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxIterations, $"{method}: MaxIterations must be positive, but is {options.MaxIterations}.");
        if (!(options.Tolerance >= 0) || !double.IsFinite(options.Tolerance))
            throw new ArgumentOutOfRangeException(nameof(options), options.Tolerance, $"{method}: the tolerance must be finite and >= 0, but is {options.Tolerance}.");
        if (!Enum.IsDefined(options.Mode)) throw new ArgumentException($"Unknown LordMode {(int)options.Mode}.", nameof(options));

        int s = matVecs, r = rank;
        var omega = new ProbeStream(n, options.Distribution, options.Seed).Next(s);
        var y = Sketch.Apply(op, omega, s);
        double yNorm2 = Sumsq(y);

        double[] d = new double[n];
        double[] basis; // [s, r] orthonormal basis of 𝒮 (columns)
        int iterations = 0;
        bool converged = true;
        switch (options.Mode)
        {
            case LordMode.DiagonalThenLowRank:
                d = LeastSquaresDiagonal(y, omega, n, s, null, 0);
                basis = TopSubspace(Residual(y, omega, d, n, s), n, s, r);
                break;
            case LordMode.LowRankThenDiagonal:
            {
                basis = TopSubspace(y, n, s, r);
                var (u0, l0) = Nystrom(Project(y, basis, n, s, r), omega, n, s, r);
                var lo = LowRankTimes(u0, l0, omega, n, s);
                var rem = new double[n * s];
                for (int i = 0; i < rem.Length; i++) rem[i] = y[i] - lo[i];
                d = LeastSquaresDiagonal(rem, omega, n, s, null, 0);
                var fit = Residual(rem, omega, d, n, s);
                var op0 = new LowRankPlusDiagonalOperator<T>(u0, l0, d, n, l0.Length, op.InputSpace,
                    new SketchLordReport(s, 0, true, Math.Sqrt(Sumsq(fit) / Math.Max(yNorm2, double.MinValue)), options.Mode));
                return op0;
            }
            default:
            {
                converged = false;
                double previous = double.PositiveInfinity;
                basis = TopSubspace(y, n, s, r);
                for (iterations = 1; iterations <= options.MaxIterations; iterations++)
                {
                    d = LeastSquaresDiagonal(y, omega, n, s, basis, r);
                    var e = Residual(y, omega, d, n, s);
                    basis = TopSubspace(e, n, s, r);
                    double f = Sumsq(Deflate(e, basis, n, s, r));
                    if (f <= 1e-28 * yNorm2 || (double.IsFinite(previous) && previous - f <= options.Tolerance * previous)) { converged = true; break; }
                    previous = f;
                }
                iterations = Math.Min(iterations, options.MaxIterations);
                break;
            }
        }
        var z = Project(Residual(y, omega, d, n, s), basis, n, s, r);
        var (u, lambda) = Nystrom(z, omega, n, s, r);
        var approx = LowRankTimes(u, lambda, omega, n, s);
        var misfit = Residual(y, omega, d, n, s);
        for (int i = 0; i < misfit.Length; i++) misfit[i] -= approx[i];
        var report = new SketchLordReport(s, iterations, converged, Math.Sqrt(Sumsq(misfit) / Math.Max(yNorm2, double.MinValue)), options.Mode);
        return new LowRankPlusDiagonalOperator<T>(u, lambda, d, n, lambda.Length, op.InputSpace, report);
    }

    private static double Sumsq(double[] a)
    {
        double s = 0;
        foreach (var v in a) s += v * v;
        return s;
    }

    /// <summary>Y − D Ω.</summary>
    private static double[] Residual(double[] y, double[] omega, double[] d, int n, int s)
    {
        var e = new double[n * s];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < s; c++) e[i * s + c] = y[i * s + c] - d[i] * omega[i * s + c];
        return e;
    }

    /// <summary>The r leading right singular vectors of E [n, s] as the columns of an [s, r] array.</summary>
    private static double[] TopSubspace(double[] e, int n, int s, int r)
    {
        var g = DenseKernels.MatMulArray<double>(e, n, s, true, e, n, s, false);
        var (_, vecs) = DenseKernels.SymmetricEigen(g, s);
        var basis = new double[s * r];
        for (int j = 0; j < r; j++)
            for (int i = 0; i < s; i++) basis[i * r + j] = vecs[(s - 1 - j) * s + i];
        return basis;
    }

    /// <summary>E P (rows projected onto the subspace).</summary>
    private static double[] Project(double[] e, double[] basis, int n, int s, int r)
    {
        if (r == 0) return new double[n * s];
        var eb = DenseKernels.MatMulArray<double>(e, n, s, false, basis, s, r, false);
        return DenseKernels.MatMulArray<double>(eb, n, r, false, basis, s, r, true);
    }

    /// <summary>E (I − P).</summary>
    private static double[] Deflate(double[] e, double[] basis, int n, int s, int r)
    {
        var p = Project(e, basis, n, s, r);
        var res = new double[n * s];
        for (int i = 0; i < res.Length; i++) res[i] = e[i] - p[i];
        return res;
    }

    /// <summary>d_i = ⟨y_i P⊥, ω_i P⊥⟩ / ‖ω_i P⊥‖² (row-wise least squares of Y ≈ D Ω modulo the subspace).</summary>
    private static double[] LeastSquaresDiagonal(double[] y, double[] omega, int n, int s, double[]? basis, int r)
    {
        var yp = basis is null ? y : Deflate(y, basis, n, s, r);
        var op = basis is null ? omega : Deflate(omega, basis, n, s, r);
        var d = new double[n];
        for (int i = 0; i < n; i++)
        {
            double num = 0, den = 0;
            for (int c = 0; c < s; c++) { num += yp[i * s + c] * op[i * s + c]; den += op[i * s + c] * op[i * s + c]; }
            d[i] = den > 0 ? num / den : 0;
        }
        return d;
    }

    /// <summary>Symmetric Nyström L = Z (Ωᵀ Z)⁺ Zᵀ with rank ≤ r, returned as (U [n, q] orthonormal, Λ [q]) by decreasing |λ|.</summary>
    private static (double[] U, double[] Lambda) Nystrom(double[] z, double[] omega, int n, int s, int r)
    {
        if (r == 0) return ([], []);
        var w = DenseKernels.MatMulArray<double>(omega, n, s, true, z, n, s, false);
        DenseKernels.Symmetrize(w, s);
        var (theta, vecs) = DenseKernels.SymmetricEigen(w, s);
        double tmax = Math.Max(Math.Abs(theta[0]), Math.Abs(theta[s - 1]));
        var idx = Enumerable.Range(0, s).OrderByDescending(i => Math.Abs(theta[i])).Take(r)
            .Where(i => Math.Abs(theta[i]) > 1e-12 * tmax).ToArray();
        int q = idx.Length;
        if (q == 0) return ([], []);
        // B = Z V_q [n, q]; L = B Θ⁻¹ Bᵀ.
        var v = new double[s * q];
        for (int j = 0; j < q; j++)
            for (int i = 0; i < s; i++) v[i * q + j] = vecs[idx[j] * s + i];
        var b = DenseKernels.MatMulArray<double>(z, n, s, false, v, s, q, false);
        var (qb, rb, rank) = DenseKernels.Orthonormalize(b, n, q);
        // core = R Θ⁻¹ Rᵀ [rank, rank]
        var core = new double[rank * rank];
        for (int a = 0; a < rank; a++)
            for (int c = 0; c < rank; c++)
            {
                double acc = 0;
                for (int j = 0; j < q; j++) acc += rb[a * q + j] * rb[c * q + j] / theta[idx[j]];
                core[a * rank + c] = acc;
            }
        DenseKernels.Symmetrize(core, rank);
        var (lam, x) = DenseKernels.SymmetricEigen(core, rank);
        var order = Enumerable.Range(0, rank).OrderByDescending(i => Math.Abs(lam[i])).ToArray();
        var xs = new double[rank * rank];
        for (int j = 0; j < rank; j++)
            for (int i = 0; i < rank; i++) xs[i * rank + j] = x[order[j] * rank + i];
        var u = DenseKernels.MatMulArray<double>(qb, n, rank, false, xs, rank, rank, false);
        return (u, order.Select(i => lam[i]).ToArray());
    }

    /// <summary>U Λ Uᵀ Ω.</summary>
    private static double[] LowRankTimes(double[] u, double[] lambda, double[] omega, int n, int s)
    {
        int q = lambda.Length;
        if (q == 0) return new double[n * s];
        var t = DenseKernels.MatMulArray<double>(u, n, q, true, omega, n, s, false);
        for (int a = 0; a < q; a++)
            for (int c = 0; c < s; c++) t[a * s + c] *= lambda[a];
        return DenseKernels.MatMulArray<double>(u, n, q, false, t, q, s, false);
    }
}
