using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;

namespace CurvNative.Solvers.Estimators;

/// <summary>A scalar estimate (trace or squared Frobenius norm) from matrix-vector products.</summary>
/// <param name="Estimate">The estimate.</param>
/// <param name="StandardError">The method's estimate of its own standard error, or NaN when it provides none
/// (fewer than two samples); 0 when <paramref name="IsExact"/>.</param>
/// <param name="MatVecs">Number of operator products used.</param>
/// <param name="Method">The algorithm, e.g. "Hutch++".</param>
/// <param name="IsExact">True when the budget equalled the dimension and the value was computed exactly with identity columns.</param>
public sealed record ScalarEstimate(double Estimate, double StandardError, int MatVecs, string Method, bool IsExact);

/// <summary>
/// Randomized trace estimators for square operators. Each takes the number of matrix-vector products m
/// explicitly; m may not exceed the dimension n, and m = n gives the exact trace Σ_i e_iᵀ A e_i from identity
/// columns (the same cost, no variance). Probes are seeded and multiplied in batches by MatMat.
/// </summary>
public static class TraceEstimators
{
    /// <summary>
    /// Hutchinson's estimator (Hutchinson 1989, "A stochastic estimator of the trace of the influence matrix for
    /// Laplacian smoothing splines"; Girard 1989): tr(A) ≈ (1/m) Σ_j z_jᵀ A z_j with E[z zᵀ] = I. Unbiased, with
    /// Var = 2 (‖A‖_F² − Σ a_ii²)/m for Rademacher and 2 ‖A‖_F²/m for Gaussian probes (symmetric A); the error
    /// decays like 1/√m. The standard error is the sample standard deviation over √m.
    /// </summary>
    /// <param name="op">A square operator.</param>
    /// <param name="matVecs">Number of products m, 1 ≤ m ≤ n.</param>
    /// <param name="distribution">Probe distribution (default Rademacher).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">The operator is not square or m is out of range.</exception>
    public static ScalarEstimate Hutchinson<T>(LinearOperator<T> op, int matVecs, ProbeDistribution distribution = ProbeDistribution.Rademacher, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "Hutchinson trace";
        Checks.Square(op, nameof(op), method);
        int n = op.Columns;
        Checks.MatVecs(matVecs, n, 1, 1, method);
        if (matVecs == n) return Exact(op, method);
        var z = new ProbeStream(n, distribution, seed).Next(matVecs);
        var samples = Sketch.ColumnDots(z, Sketch.Apply(op, z, matVecs), n, matVecs);
        var (mean, se) = Sketch.MeanAndError(samples);
        return new ScalarEstimate(mean, se, matVecs, method, false);
    }

    /// <summary>
    /// Hutch++ (Meyer, Musco, Musco and Woodruff 2021, "Hutch++: optimal stochastic trace estimation", SOSA):
    /// with m/3 probes S, Q = orth(A S), tr(A) ≈ tr(Qᵀ A Q) + (3/m) Σ_j g_jᵀ (I − QQᵀ) A (I − QQᵀ) g_j for m/3 fresh
    /// probes G. The low-rank part is exact, so the error is that of Hutchinson on the deflated matrix, at most
    /// O(1/m) relative for PSD A instead of O(1/√m), and faster for fast-decaying spectra. The standard error is
    /// that of the deflated Hutchinson part (the deflation is treated as fixed).
    /// </summary>
    /// <param name="op">A square operator.</param>
    /// <param name="matVecs">Number of products m: a positive multiple of 3 with m ≤ n (or m = n for the exact trace).</param>
    /// <param name="distribution">Probe distribution (default Rademacher).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">The operator is not square or m is not a multiple of 3 in range.</exception>
    public static ScalarEstimate HutchPlusPlus<T>(LinearOperator<T> op, int matVecs, ProbeDistribution distribution = ProbeDistribution.Rademacher, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "Hutch++";
        Checks.Square(op, nameof(op), method);
        int n = op.Columns;
        Checks.MatVecs(matVecs, n, 3, 3, method);
        if (matVecs == n) return Exact(op, method);
        int s = matVecs / 3;
        var stream = new ProbeStream(n, distribution, seed);
        var sk = stream.Next(s);
        var g = stream.Next(s);
        var (q, _, r) = DenseKernels.Orthonormalize(Sketch.Apply(op, sk, s), n, s);
        double lowRank = 0;
        if (r > 0)
        {
            var aq = Sketch.Apply(op, q, r);
            for (int i = 0; i < q.Length; i++) lowRank += q[i] * aq[i];
        }
        // G' = (I − QQᵀ) G; samples g'ᵀ A g'.
        if (r > 0) DenseKernels.Gemm(false, false, n, s, r, -1.0, q, r, DenseKernels.MatMulArray<double>(q, n, r, true, g, n, s, false), s, 1.0, g, s);
        var samples = Sketch.ColumnDots(g, Sketch.Apply(op, g, s), n, s);
        var (mean, se) = Sketch.MeanAndError(samples);
        return new ScalarEstimate(lowRank + mean, se, 2 * s + r, method, false);
    }

    /// <summary>
    /// XTrace (Epperly, Tropp and Webber 2024, "XTrace: making the most of every sample in stochastic trace
    /// estimation", SIAM J. Matrix Anal. Appl. 45), the exchangeable version of Hutch++: with s = m/2 probes
    /// ω_1 … ω_s, Y = A Ω and, for each i, Q_i an orthonormal basis of A Ω without column i,
    /// t_i = tr(Q_iᵀ A Q_i) + ω_iᵀ (I − Q_iQ_iᵀ) A (I − Q_iQ_iᵀ) ω_i, and tr(A) ≈ (1/s) Σ_i t_i, with standard error
    /// std(t_i)/√s. Every probe is used both for the low-rank approximation and for the residual. The leave-one-out
    /// bases are downdates Q_iQ_iᵀ = Q (I − s_i s_iᵀ) Qᵀ of one QR factorisation Y = Q R, with s_i ∝ R⁻ᵀ e_i, so only
    /// A Ω and A Q are needed (m products).
    /// </summary>
    /// <param name="op">A square operator.</param>
    /// <param name="matVecs">Number of products m: a positive even number with m ≤ n (or m = n for the exact trace).</param>
    /// <param name="distribution">Probe distribution (default Rademacher).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">The operator is not square or m is not even and in range.</exception>
    public static ScalarEstimate XTrace<T>(LinearOperator<T> op, int matVecs, ProbeDistribution distribution = ProbeDistribution.Rademacher, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "XTrace";
        Checks.Square(op, nameof(op), method);
        int n = op.Columns;
        Checks.MatVecs(matVecs, n, 2, 2, method);
        if (matVecs == n) return Exact(op, method);
        int s = matVecs / 2;
        var omega = new ProbeStream(n, distribution, seed).Next(s);
        var y = Sketch.Apply(op, omega, s);
        var ex = Exchangeable.Build(op, omega, y, n, s);
        var h = ex.H;
        int r = ex.Rank;
        double trH = 0;
        for (int i = 0; i < r; i++) trH += h[i * r + i];
        var w = DenseKernels.MatMulArray<double>(ex.Q, n, r, true, omega, n, s, false);  // Qᵀ Ω, [r, s]
        var t = DenseKernels.MatMulArray<double>(ex.Z, n, r, true, omega, n, s, false);  // (AQ)ᵀ Ω, [r, s]
        var oy = Sketch.ColumnDots(omega, y, n, s);                   // ω_iᵀ A ω_i
        var samples = new double[s];
        var c = new double[r];
        for (int i = 0; i < s; i++)
        {
            var si = ex.LeaveOneOut[i];
            // c = (I − s sᵀ) Qᵀ ω_i, the coordinates of Q_iQ_iᵀ ω_i in the basis Q.
            double sw = 0;
            if (si is not null) for (int a = 0; a < r; a++) sw += si[a] * w[a * s + i];
            for (int a = 0; a < r; a++) c[a] = w[a * s + i] - (si is null ? 0 : si[a] * sw);
            double trLow = trH;
            if (si is not null) trLow -= Quadratic(h, si, si, r);
            // uᵀ A u for u = ω − Q c: ωᵀAω − (Zᵀω)·c − c·(Qᵀ A ω) + cᵀ H c, with Qᵀ A ω_i = R e_i.
            double tc = 0, rc = 0;
            for (int a = 0; a < r; a++) { tc += t[a * s + i] * c[a]; rc += c[a] * ex.R[a * s + i]; }
            samples[i] = trLow + oy[i] - tc - rc + Quadratic(h, c, c, r);
        }
        var (mean, se) = Sketch.MeanAndError(samples);
        return new ScalarEstimate(mean, se, s + r, method, false);
    }

    private static double Quadratic(double[] h, double[] a, double[] b, int r)
    {
        double s = 0;
        for (int i = 0; i < r; i++)
        {
            double row = 0;
            for (int j = 0; j < r; j++) row += h[i * r + j] * b[j];
            s += a[i] * row;
        }
        return s;
    }

    private static ScalarEstimate Exact<T>(LinearOperator<T> op, string method) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double trace = 0;
        Sketch.ForIdentityColumns(op, (j0, k, ae) =>
        {
            for (int c = 0; c < k; c++) trace += ae[(j0 + c) * k + c];
        });
        return new ScalarEstimate(trace, 0, op.Columns, method, true);
    }
}

/// <summary>
/// The shared part of XTrace and XDiag: Y = Q R with rank truncation, Z = A Q (or Aᵀ Q), H = Qᵀ A Q, and the
/// unit vectors s_i with Q_iQ_iᵀ = Q (I − s_i s_iᵀ) Qᵀ for the basis Q_i of Y without column i (null when
/// removing column i does not shrink the range, which happens only when Y is rank-deficient).
/// </summary>
internal sealed class Exchangeable
{
    public required double[] Q { get; init; }
    public required double[] R { get; init; }
    public required double[] Z { get; init; }
    public required double[] H { get; init; }
    public required int Rank { get; init; }
    public required double[]?[] LeaveOneOut { get; init; }

    public static Exchangeable Build<T>(LinearOperator<T> productOp, double[] omega, double[] y, int n, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        _ = omega;
        var (q, rr, r) = DenseKernels.Orthonormalize(y, n, s);
        var z = r > 0 ? Sketch.Apply(productOp, q, r) : [];
        var h = DenseKernels.MatMulArray<double>(q, n, r, true, z, n, r, false);
        var loo = new double[]?[s];
        double[]? rInv = r == s ? DenseKernels.Invert(rr, r) : null;
        for (int i = 0; i < s; i++)
        {
            double[]? si = null;
            if (rInv is not null)
            {
                // s_i ∝ R⁻ᵀ e_i = row i of R⁻¹ read as a column.
                si = new double[r];
                double norm = 0;
                for (int a = 0; a < r; a++) { si[a] = rInv[i * r + a]; norm += si[a] * si[a]; }
                norm = Math.Sqrt(norm);
                for (int a = 0; a < r; a++) si[a] /= norm;
            }
            else if (r > 0)
            {
                // Rank-deficient Y: the null vector of R_{−i}ᵀ, if any, from G = R Rᵀ − R e_i e_iᵀ Rᵀ.
                var g = new double[r * r];
                for (int a = 0; a < r; a++)
                    for (int b = 0; b < r; b++)
                    {
                        double acc = 0;
                        for (int c = 0; c < s; c++) if (c != i) acc += rr[a * s + c] * rr[b * s + c];
                        g[a * r + b] = acc;
                    }
                var (theta, vecs) = DenseKernels.SymmetricEigen(g, r);
                if (theta[0] <= 1e-12 * theta[r - 1]) si = vecs.AsSpan(0, r).ToArray();
            }
            loo[i] = si;
        }
        return new Exchangeable { Q = q, R = rr, Z = z, H = h, Rank = r, LeaveOneOut = loo };
    }
}
