using CurvNative.Kernels;
using System.Collections.Immutable;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Estimators;
using CurvNative.Solvers.Internal;

namespace CurvNative.Solvers.Eigen;

/// <summary>
/// A spectral density estimate on a grid, with the Gauss quadrature rules it was built from: for probe p,
/// nodes θ_pj (Ritz values of the Lanczos tridiagonal T_p) and weights τ_pj (squared first components of its
/// eigenvectors, Σ_j τ_pj = 1), so that (1/n) tr f(A) ≈ (1/P) Σ_p Σ_j τ_pj f(θ_pj).
/// </summary>
public sealed class SpectralDensityResult
{
    internal SpectralDensityResult(double[] grid, double[] density, double[][] nodes, double[][] weights, int dimension, int matVecs)
    {
        Grid = [.. grid];
        Density = [.. density];
        Nodes = [.. nodes.Select(x => ImmutableArray.Create(x))];
        Weights = [.. weights.Select(x => ImmutableArray.Create(x))];
        Dimension = dimension;
        MatVecs = matVecs;
    }

    /// <summary>The grid points (eigenvalues λ, increasing).</summary>
    public ImmutableArray<double> Grid { get; }

    /// <summary>The density at each grid point (a density in λ: ∫ density dλ ≈ 1 over a grid covering the spectrum).</summary>
    public ImmutableArray<double> Density { get; }

    /// <summary>Quadrature nodes θ_pj per probe.</summary>
    public ImmutableArray<ImmutableArray<double>> Nodes { get; }

    /// <summary>Quadrature weights τ_pj per probe (each probe's weights sum to 1).</summary>
    public ImmutableArray<ImmutableArray<double>> Weights { get; }

    /// <summary>The dimension n of the operator.</summary>
    public int Dimension { get; }

    /// <summary>Number of operator products (probes × Lanczos steps, fewer if a probe's Krylov space became invariant).</summary>
    public int MatVecs { get; }

    /// <summary>
    /// Stochastic Lanczos quadrature estimate of the spectral sum tr f(A) = Σ_i f(λ_i) ≈ n (1/P) Σ_p Σ_j τ_pj f(θ_pj)
    /// (e.g. f = log for log det A of a positive definite A; Ubaru, Chen and Saad 2017).
    /// </summary>
    public double SpectralSum(Func<double, double> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        double s = 0;
        for (int p = 0; p < Nodes.Length; p++)
            for (int j = 0; j < Nodes[p].Length; j++) s += Weights[p][j] * f(Nodes[p][j]);
        return Dimension * s / Math.Max(Nodes.Length, 1);
    }
}

/// <summary>
/// Spectral density of a symmetric operator by stochastic Lanczos quadrature (SLQ: Ubaru, Chen and Saad 2017,
/// "Fast estimation of tr(f(A)) via stochastic Lanczos quadrature", SIAM J. Matrix Anal. Appl. 38; for neural
/// network Hessians Ghorbani, Krishnan and Xiao 2019, "An investigation into neural net optimization via
/// Hessian eigenvalue density", ICML; Papyan 2020, JMLR 21).
/// </summary>
/// <remarks>
/// The density φ(t) = (1/n) Σ_i δ(t − λ_i) is smoothed by a Gaussian of width σ and estimated as
/// φ_σ(t) ≈ (1/P) Σ_p Σ_j τ_pj g_σ(t − θ_pj), g_σ(x) = exp(−x²/2σ²)/(σ√(2π)): for a unit probe v, vᵀ f(A) v =
/// Σ_i (v·q_i)² f(λ_i) is a Riemann–Stieltjes integral whose m-point Gauss quadrature rule is given by the
/// Lanczos tridiagonal T_m started at v (Golub and Meurant), and E[(v·q_i)²] = 1/n for v = z/√n with z
/// Rademacher. The P probes run in lockstep with one MatMat of P columns per step; with
/// <c>reorthogonalize</c> (default, as Ghorbani et al.) every probe keeps its Lanczos basis, P (m + 1) n doubles.
/// </remarks>
public static class SpectralDensity
{
    /// <summary>
    /// SLQ estimate of the Gaussian-smoothed spectral density φ_σ(t) = (1/n) Σ_i g_σ(t − λ_i) on <paramref name="grid"/>.
    /// </summary>
    /// <param name="op">A symmetric operator.</param>
    /// <param name="probes">Number of Rademacher probes P ≥ 1.</param>
    /// <param name="lanczosSteps">Lanczos steps m per probe, 1 ≤ m ≤ n (quadrature rules with m nodes, exact for polynomials of degree 2m − 1).</param>
    /// <param name="grid">Points t at which to evaluate the density (finite).</param>
    /// <param name="sigma">Width σ &gt; 0 of the Gaussian broadening, in units of λ.</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <param name="reorthogonalize">Fully reorthogonalise each probe's Lanczos vectors (default true).</param>
    /// <exception cref="ArgumentException">The operator is not symmetric, or a count, the grid or σ is invalid.</exception>
    public static SpectralDensityResult Slq<T>(LinearOperator<T> op, int probes, int lanczosSteps, double[] grid, double sigma, int seed = 0, bool reorthogonalize = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(op, probes, lanczosSteps, grid, sigma, "SpectralDensity.Slq", positiveGrid: false);
        var (nodes, weights, matVecs) = Quadrature(op, probes, lanczosSteps, seed, reorthogonalize);
        var density = new double[grid.Length];
        double norm = 1.0 / (sigma * Math.Sqrt(2 * Math.PI) * probes);
        for (int g = 0; g < grid.Length; g++)
        {
            double s = 0;
            for (int p = 0; p < nodes.Length; p++)
                for (int j = 0; j < nodes[p].Length; j++)
                {
                    double x = (grid[g] - nodes[p][j]) / sigma;
                    s += weights[p][j] * Math.Exp(-0.5 * x * x);
                }
            density[g] = s * norm;
        }
        return new SpectralDensityResult(grid, density, nodes, weights, op.Columns, matVecs);
    }

    /// <summary>
    /// SLQ estimate of the density of log-eigenvalues, for positive semi-definite operators whose spectrum spans
    /// many orders of magnitude (Papyan 2020, Section C.7; curvlinops' LanczosApproximateLogSpectrumCached): each
    /// node contributes a Gaussian of width σ in u = ln(|θ| + ε), and the result is returned as a density in λ on the
    /// (typically log-spaced, see <see cref="LogGrid"/>) positive grid: ψ(λ) = (1/λ) (1/P) Σ_p Σ_j τ_pj g_σ(ln λ − ln(|θ_pj| + ε)),
    /// so that ∫ ψ dλ = ∫ ψ(e^u) e^u du ≈ 1. The absolute value makes tiny negative Ritz values of a PSD operator harmless;
    /// for an indefinite operator this is the density of log|λ|.
    /// </summary>
    /// <param name="op">A symmetric (typically positive semi-definite) operator.</param>
    /// <param name="probes">Number of Rademacher probes P ≥ 1.</param>
    /// <param name="lanczosSteps">Lanczos steps m per probe, 1 ≤ m ≤ n.</param>
    /// <param name="grid">Positive points λ (e.g. <see cref="LogGrid"/>).</param>
    /// <param name="sigma">Width σ &gt; 0 of the Gaussian in natural-log units.</param>
    /// <param name="epsilon">Shift ε ≥ 0 added to |θ| before the logarithm (Papyan uses 1e-5).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <param name="reorthogonalize">Fully reorthogonalise each probe's Lanczos vectors (default true).</param>
    /// <exception cref="ArgumentException">The operator is not symmetric, a count is out of range, the grid is not positive, σ ≤ 0 or ε &lt; 0.</exception>
    public static SpectralDensityResult SlqLog<T>(LinearOperator<T> op, int probes, int lanczosSteps, double[] grid, double sigma, double epsilon = 1e-5, int seed = 0, bool reorthogonalize = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(op, probes, lanczosSteps, grid, sigma, "SpectralDensity.SlqLog", positiveGrid: true);
        if (!(epsilon >= 0) || !double.IsFinite(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"The log-spectrum shift ε must be finite and >= 0, but is {epsilon}.");
        var (nodes, weights, matVecs) = Quadrature(op, probes, lanczosSteps, seed, reorthogonalize);
        var density = new double[grid.Length];
        double norm = 1.0 / (sigma * Math.Sqrt(2 * Math.PI) * probes);
        for (int g = 0; g < grid.Length; g++)
        {
            double u = Math.Log(grid[g]), s = 0;
            for (int p = 0; p < nodes.Length; p++)
                for (int j = 0; j < nodes[p].Length; j++)
                {
                    double node = Math.Log(Math.Abs(nodes[p][j]) + epsilon);
                    if (double.IsNegativeInfinity(node)) continue; // θ = 0 with ε = 0: no finite log
                    double x = (u - node) / sigma;
                    s += weights[p][j] * Math.Exp(-0.5 * x * x);
                }
            density[g] = s * norm / grid[g];
        }
        return new SpectralDensityResult(grid, density, nodes, weights, op.Columns, matVecs);
    }

    /// <summary><paramref name="count"/> equally spaced points from <paramref name="min"/> to <paramref name="max"/> (inclusive).</summary>
    public static double[] LinearGrid(double min, double max, int count)
    {
        CheckGridArgs(min, max, count, positive: false);
        if (count == 1) return [min];
        return [.. Enumerable.Range(0, count).Select(i => min + (max - min) * i / (count - 1))];
    }

    /// <summary><paramref name="count"/> logarithmically spaced points from <paramref name="min"/> &gt; 0 to <paramref name="max"/> (inclusive).</summary>
    public static double[] LogGrid(double min, double max, int count)
    {
        CheckGridArgs(min, max, count, positive: true);
        if (count == 1) return [min];
        double a = Math.Log(min), b = Math.Log(max);
        return [.. Enumerable.Range(0, count).Select(i => Math.Exp(a + (b - a) * i / (count - 1)))];
    }

    private static void CheckGridArgs(double min, double max, int count, bool positive)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, $"A grid needs at least 1 point, but count = {count}.");
        if (!double.IsFinite(min) || !double.IsFinite(max) || !(max >= min) || (positive && !(min > 0)))
            throw new ArgumentException($"Expected finite grid bounds with {(positive ? "0 < " : "")}min <= max, but got min = {min}, max = {max}.", nameof(min));
    }

    private static void Validate<T>(LinearOperator<T> op, int probes, int steps, double[] grid, double sigma, string method, bool positiveGrid)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Checks.Symmetric(op, nameof(op), method, "Stochastic Lanczos quadrature needs A = Aᵀ.");
        int n = op.Columns;
        if (probes < 1) throw new ArgumentOutOfRangeException(nameof(probes), probes, $"{method} needs at least 1 probe, but got {probes}.");
        if (steps < 1 || steps > n)
            throw new ArgumentOutOfRangeException("lanczosSteps", steps, $"{method}: the number of Lanczos steps must be between 1 and the dimension n = {n}, but is {steps}.");
        ArgumentNullException.ThrowIfNull(grid);
        for (int g = 0; g < grid.Length; g++)
            if (!double.IsFinite(grid[g]) || (positiveGrid && !(grid[g] > 0)))
                throw new ArgumentException($"{method}: grid point {g} is {grid[g]}; expected a finite{(positiveGrid ? " positive" : "")} value.", nameof(grid));
        if (!(sigma > 0) || !double.IsFinite(sigma))
            throw new ArgumentOutOfRangeException(nameof(sigma), sigma, $"{method}: the broadening σ must be a finite positive number, but is {sigma}.");
    }

    /// <summary>Gauss quadrature nodes and weights of P Lanczos runs from Rademacher probes, batched as MatMats.</summary>
    internal static (double[][] Nodes, double[][] Weights, int MatVecs) Quadrature<T>(LinearOperator<T> op, int probes, int steps, int seed, bool reorthogonalize)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = op.Columns, P = probes;
        var stream = new ProbeStream(n, ProbeDistribution.Rademacher, seed);
        var z = stream.Next(P);                                  // [n, P]
        var q = new double[P][];
        var qPrev = new double[P][];
        var basis = reorthogonalize ? new double[P][] : null;
        for (int p = 0; p < P; p++)
        {
            q[p] = new double[n];
            for (int i = 0; i < n; i++) q[p][i] = z[i * P + p] / Math.Sqrt(n);
            qPrev[p] = new double[n];
            if (basis is not null)
            {
                basis[p] = new double[(long)(steps + 1) * n <= Array.MaxLength ? (steps + 1) * n
                    : throw new ArgumentException($"A Lanczos basis of {steps + 1} vectors of length {n} exceeds the largest array; pass reorthogonalize: false.")];
                q[p].CopyTo(basis[p], 0);
            }
        }
        var alpha = new double[P][];
        var beta = new double[P][];
        var length = new int[P];
        var active = Enumerable.Repeat(true, P).ToArray();
        for (int p = 0; p < P; p++) { alpha[p] = new double[steps]; beta[p] = new double[steps]; }
        int matVecs = 0;
        double normEstimate = 0;
        for (int j = 0; j < steps; j++)
        {
            var cols = Block.Indices(active);
            if (cols.Length == 0) break;
            int m = cols.Length;
            var x = new double[n * m];
            for (int i = 0; i < n; i++)
                for (int c = 0; c < m; c++) x[i * m + c] = q[cols[c]][i];
            var y = Dense.Apply(op, x, m);
            matVecs += m;
            for (int c = 0; c < m; c++)
            {
                int p = cols[c];
                var w = new double[n];
                for (int i = 0; i < n; i++) w[i] = y[i * m + c];
                double bPrev = j > 0 ? beta[p][j - 1] : 0;
                for (int i = 0; i < n; i++) w[i] -= bPrev * qPrev[p][i];
                double a = DenseKernels.Dot(q[p], w);
                for (int i = 0; i < n; i++) w[i] -= a * q[p][i];
                if (basis is not null)
                {
                    // Twice classical Gram–Schmidt against the probe's basis; the v_j coefficient corrects α.
                    var h = new double[j + 1];
                    for (int pass = 0; pass < 2; pass++)
                    {
                        DenseKernels.BasisTimes(basis[p], j + 1, n, w, 0, h);
                        DenseKernels.SubtractBasisCombination(basis[p], j + 1, n, h, w, 0);
                        a += h[j];
                    }
                }
                alpha[p][j] = a;
                length[p] = j + 1;
                double b = DenseKernels.Norm(w);
                normEstimate = Math.Max(normEstimate, Math.Abs(a) + b + bPrev);
                if (!double.IsFinite(a) || !double.IsFinite(b))
                    throw new InvalidOperationException($"Stochastic Lanczos quadrature: the operator produced NaN or infinite values at step {j + 1} of probe {p}.");
                if (j == steps - 1 || b <= 1e-12 * normEstimate)
                {
                    active[p] = false; // done, or the Krylov space is invariant: the quadrature is exact with j + 1 nodes
                    continue;
                }
                beta[p][j] = b;
                (qPrev[p], q[p]) = (q[p], qPrev[p]);
                for (int i = 0; i < n; i++) q[p][i] = w[i] / b;
                if (basis is not null) q[p].CopyTo(basis[p], (j + 1) * n);
            }
        }

        var nodes = new double[P][];
        var weights = new double[P][];
        for (int p = 0; p < P; p++)
        {
            int m = length[p];
            var t = new double[m * m];
            for (int i = 0; i < m; i++)
            {
                t[i * m + i] = alpha[p][i];
                if (i + 1 < m) t[i * m + i + 1] = beta[p][i];
            }
            var (theta, vecs) = DenseKernels.SymmetricEigen(t, m);
            nodes[p] = theta;
            weights[p] = new double[m];
            for (int i = 0; i < m; i++) weights[p][i] = vecs[i * m] * vecs[i * m];
        }
        return (nodes, weights, matVecs);
    }
}
