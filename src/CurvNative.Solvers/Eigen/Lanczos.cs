using CurvNative.Kernels;
using System.Collections.Immutable;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers.Eigen;

/// <summary>Which end of the spectrum <see cref="Lanczos.Eigs{T}"/> computes.</summary>
public enum EigenWhich
{
    /// <summary>The k algebraically largest eigenvalues, returned in descending order.</summary>
    Largest,

    /// <summary>The k algebraically smallest eigenvalues, returned in ascending order.</summary>
    Smallest,

    /// <summary>The k eigenvalues of largest magnitude |λ|, returned by descending |λ|.</summary>
    LargestMagnitude,
}

/// <summary>Options of <see cref="Lanczos.Eigs{T}"/>.</summary>
public sealed record LanczosOptions
{
    /// <summary>
    /// Relative residual tolerance: a Ritz pair (θ, x) is converged when ‖A x − θ x‖₂ ≤ Tolerance · max(|θ|, ε^{2/3} ‖A‖),
    /// with ‖A‖ estimated by the largest |θ| seen (ARPACK's criterion). Null means 1e-10 for double, 1e-5 for float.
    /// </summary>
    public double? Tolerance { get; init; }

    /// <summary>Maximum number of vectors m of the Krylov basis (the memory is (m + 1) n doubles). Null means
    /// min(n, max(2k + 1, 40)). Must exceed k unless it equals n.</summary>
    public int? BasisSize { get; init; }

    /// <summary>Maximum number of operator products; null means max(1000, 100 m).</summary>
    public int? MaxMatVecs { get; init; }

    /// <summary>Seed of the random (Gaussian) start vector. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Throw an <see cref="EigenNotConvergedException"/> instead of returning a result with <see cref="EigenResult{T}.Converged"/> = false.</summary>
    public bool ThrowOnFailure { get; init; }
}

/// <summary>k eigenpairs of a symmetric operator from <see cref="Lanczos.Eigs{T}"/>.</summary>
/// <typeparam name="T">Element type of the eigenvectors.</typeparam>
public sealed class EigenResult<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal EigenResult(double[] values, Tensor<T> vectors, double[] residuals, bool converged, int matVecs, int restarts, string message)
    {
        Eigenvalues = [.. values];
        Eigenvectors = vectors;
        ResidualNorms = [.. residuals];
        Converged = converged;
        MatVecs = matVecs;
        Restarts = restarts;
        Message = message;
    }

    /// <summary>The eigenvalues (Ritz values), sorted as requested by <see cref="EigenWhich"/>.</summary>
    public ImmutableArray<double> Eigenvalues { get; }

    /// <summary>The unit eigenvectors as columns of an [n, k] tensor: column j belongs to Eigenvalues[j].</summary>
    public Tensor<T> Eigenvectors { get; }

    /// <summary>‖A x_j − θ_j x_j‖₂ of each pair, from the Lanczos relation (|β_m y_{m,j}|, no extra product).</summary>
    public ImmutableArray<double> ResidualNorms { get; }

    /// <summary>True when every requested pair met the tolerance.</summary>
    public bool Converged { get; }

    /// <summary>Number of operator products used.</summary>
    public int MatVecs { get; }

    /// <summary>Number of thick restarts.</summary>
    public int Restarts { get; }

    /// <summary>What happened, with a hint when not converged.</summary>
    public string Message { get; }
}

/// <summary>Thrown by <see cref="Lanczos.Eigs{T}"/> with <see cref="LanczosOptions.ThrowOnFailure"/> when not all pairs converged.</summary>
public sealed class EigenNotConvergedException(string message) : Exception(message);

/// <summary>
/// Eigenvalues and eigenvectors of symmetric operators by the Lanczos method with full reorthogonalisation
/// and thick restarting (Wu and Simon 2000, "Thick-restart Lanczos method for large symmetric eigenvalue
/// problems", SIAM J. Matrix Anal. Appl. 22), which is mathematically equivalent to ARPACK's implicitly
/// restarted Lanczos (Sorensen 1992) with exact shifts but simpler and more stable.
/// </summary>
/// <remarks>
/// <para>
/// A basis V_m of at most m vectors satisfies A V_m = V_m H_m + β_m v_{m+1} e_mᵀ with H_m = V_mᵀ A V_m. Each
/// step multiplies the newest vector by A, applies the three-term recurrence and then reorthogonalises against
/// the whole basis by classical Gram–Schmidt as GEMMs, with a second pass when the first removed more than
/// 1 − 1/√2 of the norm (Daniel, Gragg, Kaufman and Stewart 1976; "twice is enough", Giraud et al. 2005); the
/// first step after a restart, where A v couples to every kept vector, always takes two passes. All coefficients
/// go into H's new column, so the projected matrix stays exact after restarts (tridiagonal plus an arrowhead).
/// When the basis is full, the Rayleigh–Ritz problem H_m = Y Θ Yᵀ is solved by LAPACK xSYEVD; the residual
/// of Ritz pair i is |β_m Y_{m,i}|. The wanted Ritz vectors and about half of the remaining room
/// (k + (m − k)/2 in all) are kept: V ← V Y_keep, H ← diag(Θ_keep) bordered by the couplings β_m Y_{m,keep},
/// and Lanczos resumes from v_{m+1}. Memory is (m + 1) n doubles plus k + (m − k)/2 rows during a restart,
/// independent of the number of iterations, so k = 20 with m = 41 runs on operators of millions of parameters.
/// </para>
/// <para>
/// An invariant subspace (β ≈ 0) is continued with a random vector orthogonal to the basis. The basis is kept in
/// double whatever T; the operator is applied in T.
/// </para>
/// </remarks>
public static class Lanczos
{
    /// <summary>The k eigenpairs at the requested end of the spectrum of the symmetric operator <paramref name="op"/>.</summary>
    /// <param name="op">A symmetric operator (flagged <see cref="LinearOperator{T}.IsSymmetric"/>).</param>
    /// <param name="k">Number of eigenpairs, 1 ≤ k ≤ n.</param>
    /// <param name="which">Largest, smallest or largest-magnitude eigenvalues.</param>
    /// <param name="options">Tolerance, basis size, product budget, seed.</param>
    /// <returns>Eigenvalues sorted as requested, eigenvectors [n, k], residual norms, convergence flag and cost.</returns>
    /// <exception cref="ArgumentException">The operator is not symmetric, k is out of range, or an option is invalid.</exception>
    /// <exception cref="EigenNotConvergedException">Not converged and <see cref="LanczosOptions.ThrowOnFailure"/> is set.</exception>
    public static EigenResult<T> Eigs<T>(LinearOperator<T> op, int k, EigenWhich which = EigenWhich.Largest, LanczosOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Checks.Symmetric(op, nameof(op), "Lanczos", "The Lanczos method needs A = Aᵀ; for singular values of a non-symmetric A use A.Transpose() * A.");
        options ??= new LanczosOptions();
        if (!Enum.IsDefined(which)) throw new ArgumentException($"Unknown EigenWhich value {(int)which}.", nameof(which));
        int n = op.Columns;
        if (k < 1 || k > n)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"Lanczos: the number of eigenpairs k must be between 1 and the dimension n = {n}, but k = {k}.");
        int m = options.BasisSize ?? Math.Min(n, Math.Max(2 * k + 1, 40));
        if (m > n || (m <= k && m != n))
            throw new ArgumentOutOfRangeException(nameof(options), m,
                $"Lanczos: the basis size m must satisfy k < m <= n (k = {k}, n = {n}) or equal n, but m = {m}.");
        double tol = options.Tolerance ?? (typeof(T) == typeof(float) ? 1e-5 : 1e-10);
        if (!(tol > 0) || !double.IsFinite(tol))
            throw new ArgumentOutOfRangeException(nameof(options), tol, $"Lanczos: the tolerance must be a finite positive number, but is {tol}.");
        int maxMatVecs = options.MaxMatVecs ?? Math.Max(1000, 100 * m);
        if (maxMatVecs < 1)
            throw new ArgumentOutOfRangeException(nameof(options), maxMatVecs, $"Lanczos: MaxMatVecs must be positive, but is {maxMatVecs}.");

        var engine = new ThickRestartLanczos<T>(op, m, options.Seed);
        var (values, vectors, residuals, converged, message) = engine.Run(k, which, tol, maxMatVecs);
        var result = new EigenResult<T>(values, vectors, residuals, converged, engine.MatVecs, engine.Restarts, message);
        if (!converged && options.ThrowOnFailure) throw new EigenNotConvergedException($"Lanczos did not converge: {message}");
        return result;
    }

    /// <summary>Indices of Ritz values ordered from most to least wanted.</summary>
    internal static int[] Order(double[] theta, EigenWhich which)
    {
        var idx = Enumerable.Range(0, theta.Length).ToArray();
        return which switch
        {
            EigenWhich.Largest => [.. idx.OrderByDescending(i => theta[i])],
            EigenWhich.Smallest => [.. idx.OrderBy(i => theta[i])],
            _ => [.. idx.OrderByDescending(i => Math.Abs(theta[i]))],
        };
    }
}

/// <summary>The thick-restart Lanczos engine: basis rows V[j] (double), projected matrix H (upper triangle).</summary>
internal sealed class ThickRestartLanczos<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly LinearOperator<T> _op;
    private readonly int _n, _m;
    private readonly double[] _v;   // (m + 1) rows of length n
    private readonly double[] _h;   // [m, m], column j holds the coefficients of A v_j
    private readonly Random _rng;
    private double _normEstimate;

    public ThickRestartLanczos(LinearOperator<T> op, int m, int seed)
    {
        _op = op;
        _n = op.Columns;
        _m = m;
        _v = new double[(long)(m + 1) * _n <= Array.MaxLength ? (m + 1) * _n : throw new ArgumentException($"A Lanczos basis of {m + 1} vectors of length {op.Columns} exceeds the largest array.")];
        _h = new double[m * m];
        _rng = new Random(seed);
    }

    public int MatVecs { get; private set; }

    public int Restarts { get; private set; }

    private Span<double> Row(int j) => _v.AsSpan(j * _n, _n);

    public (double[] Values, Tensor<T> Vectors, double[] Residuals, bool Converged, string Message) Run(int k, EigenWhich which, double tol, int maxMatVecs)
    {
        int n = _n, m = _m;
        RandomUnit(0);
        int j0 = 0;
        double betaLast = 0;
        double eps23 = Math.Pow(Math.Pow(2, -52), 2.0 / 3.0);
        while (true)
        {
            // Extend the basis from j0 to m vectors.
            int filled = m;
            for (int j = j0; j < m; j++)
            {
                if (MatVecs >= maxMatVecs) { filled = j; break; }
                var w = Dense.Apply(_op, Row(j), 1);
                MatVecs++;
                var h = new double[j + 1];
                double wNorm0 = DenseKernels.Norm(w);
                if (j == j0 && j0 > 0) Orthogonalise(w, 0, j + 1, h); // after a restart A v couples to every kept vector
                else
                {
                    // Three-term recurrence, then one full Gram–Schmidt pass against the basis (a second one only
                    // when the first removed a noticeable part, the DGKS criterion), which halves the traffic.
                    h[j] = DenseKernels.Dot(Row(j), w);
                    var vj = Row(j);
                    for (int i = 0; i < n; i++) w[i] -= h[j] * vj[i];
                    if (j > 0)
                    {
                        h[j - 1] = betaLast;
                        var vp = Row(j - 1);
                        for (int i = 0; i < n; i++) w[i] -= betaLast * vp[i];
                    }
                    double before = DenseKernels.Norm(w);
                    Orthogonalise(w, 0, j + 1, h, passes: 1);
                    if (DenseKernels.Norm(w) < 0.7071 * before) Orthogonalise(w, 0, j + 1, h, passes: 1);
                }
                for (int i = 0; i <= j; i++) _h[i * m + j] = h[i];
                double beta = DenseKernels.Norm(w);
                _normEstimate = Math.Max(_normEstimate, wNorm0);
                if (j + 1 == n) { betaLast = 0; filled = j + 1; break; } // the basis spans the whole space
                if (!double.IsFinite(beta))
                    return Fail(k, which, $"the operator produced NaN or infinite values after {MatVecs} products");
                if (beta <= 1e-12 * _normEstimate)
                {
                    // Invariant subspace: the Ritz pairs of the basis are exact; continue with a fresh direction.
                    RandomUnit(j + 1);
                    beta = 0;
                }
                else
                {
                    var next = Row(j + 1);
                    for (int i = 0; i < n; i++) next[i] = w[i] / beta;
                }
                betaLast = beta;
            }

            // Rayleigh–Ritz on the filled part of H.
            int size = filled;
            var hm = new double[size * size];
            for (int i = 0; i < size; i++)
                for (int j = i; j < size; j++) hm[i * size + j] = _h[i * m + j];
            var (theta, y) = DenseKernels.SymmetricEigen(hm, size);
            foreach (var t in theta) _normEstimate = Math.Max(_normEstimate, Math.Abs(t));
            var residual = new double[size];
            for (int i = 0; i < size; i++) residual[i] = Math.Abs(betaLast * y[i * size + size - 1]);
            var order = Lanczos.Order(theta, which);
            int want = Math.Min(k, size);
            int nconv = 0;
            for (int t = 0; t < want; t++)
            {
                int i = order[t];
                if (residual[i] <= tol * Math.Max(Math.Abs(theta[i]), eps23 * _normEstimate)) nconv++;
            }
            bool complete = size == n;
            bool converged = want == k && (nconv == k || complete);
            if (converged || MatVecs >= maxMatVecs || size < m)
            {
                var sel = order.Take(want).ToArray();
                string message = converged
                    ? $"{k} eigenpairs converged to relative residual <= {tol:G3} after {MatVecs} products and {Restarts} restarts."
                    : $"only {nconv} of {k} eigenpairs converged after {MatVecs} products (limit {maxMatVecs}) and {Restarts} restarts; raise MaxMatVecs or BasisSize, or loosen the tolerance {tol:G3}.";
                return Finish(sel, theta, y, size, residual, k, converged, message);
            }

            // Thick restart: keep the most wanted Ritz vectors, continue from v_{m+1}.
            int keep = Math.Min(m - 1, k + (m - k) / 2);
            var kept = order.Take(keep).ToArray();
            var yk = new double[keep * m];                 // rows: kept Ritz vectors in basis coordinates
            for (int t = 0; t < keep; t++)
                for (int i = 0; i < m; i++) yk[t * m + i] = y[kept[t] * m + i];
            var newRows = DenseKernels.MatMulArray<double>(yk, keep, m, false, _v, m, n, false); // [keep, n] = Y_keepᵀ V
            Row(m).CopyTo(Row(keep));
            newRows.AsSpan().CopyTo(_v.AsSpan(0, keep * n));
            Array.Clear(_h);
            for (int t = 0; t < keep; t++)
            {
                _h[t * m + t] = theta[kept[t]];
                _h[t * m + keep] = betaLast * yk[t * m + m - 1];
            }
            j0 = keep;
            Restarts++;
        }
    }

    /// <summary>w ← (I − V Vᵀ) w, <paramref name="passes"/> times over the first <paramref name="count"/> basis rows; h += the coefficients.</summary>
    private void Orthogonalise(double[] w, int wOffset, int count, double[] h, int passes = 2)
    {
        var c = new double[count];
        for (int pass = 0; pass < passes; pass++)
        {
            DenseKernels.BasisTimes(_v, count, _n, w, wOffset, c);                 // c = V w
            DenseKernels.SubtractBasisCombination(_v, count, _n, c, w, wOffset);   // w -= Vᵀ c
            for (int i = 0; i < count; i++) h[i] += c[i];
        }
    }

    /// <summary>Row <paramref name="count"/> of the basis ← a random unit vector orthogonal to the rows before it.</summary>
    private void RandomUnit(int count)
    {
        var dst = Row(count);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            for (int i = 0; i < _n; i++)
            {
                double u1 = 1.0 - _rng.NextDouble(), u2 = _rng.NextDouble();
                dst[i] = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            }
            double before = DenseKernels.Norm(dst);
            if (count > 0) Orthogonalise(_v, count * _n, count, new double[count]);
            double norm = DenseKernels.Norm(dst);
            if (norm > 1e-8 * before)
            {
                for (int i = 0; i < _n; i++) dst[i] /= norm;
                return;
            }
        }
        throw new InvalidOperationException($"Lanczos could not find a direction orthogonal to {count} basis vectors in dimension {_n}.");
    }

    private (double[], Tensor<T>, double[], bool, string) Finish(int[] sel, double[] theta, double[] y, int size, double[] residual, int k, bool converged, string message)
    {
        int n = _n, q = sel.Length;
        var ys = new double[q * size];
        for (int t = 0; t < q; t++)
            for (int i = 0; i < size; i++) ys[t * size + i] = y[sel[t] * size + i];
        var rows = DenseKernels.MatMulArray<double>(ys, q, size, false, _v, size, n, false); // [q, n]
        var vectors = Tensor<T>.Zeros(n, q);
        var vs = vectors.Span;
        for (int t = 0; t < q; t++)
            for (int i = 0; i < n; i++) vs[i * q + t] = T.CreateTruncating(rows[t * n + i]);
        var values = sel.Select(i => theta[i]).ToArray();
        var res = sel.Select(i => residual[i]).ToArray();
        _ = k;
        return (values, vectors, res, converged, message);
    }

    private (double[], Tensor<T>, double[], bool, string) Fail(int k, EigenWhich which, string reason)
    {
        _ = which;
        return (Enumerable.Repeat(double.NaN, k).ToArray(), Tensor<T>.Full(T.NaN, _n, k), Enumerable.Repeat(double.NaN, k).ToArray(), false,
            $"Lanczos broke down: {reason}.");
    }
}
