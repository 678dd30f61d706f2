using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers.Estimators;

/// <summary>An estimate of the diagonal of a square operator.</summary>
/// <typeparam name="T">Element type.</typeparam>
/// <param name="Diagonal">The estimated diagonal, a vector of length n (flat, in the order of the operator's space).</param>
/// <param name="MatVecs">Number of operator products used.</param>
/// <param name="Method">The algorithm.</param>
/// <param name="IsExact">True when the budget equalled n and the diagonal was read off identity columns.</param>
public sealed record DiagonalEstimate<T>(Tensor<T> Diagonal, int MatVecs, string Method, bool IsExact) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Randomized estimators of diag(A). The number of products m is explicit; m ≤ n, and m = n returns the exact
/// diagonal from identity columns.
/// </summary>
public static class DiagonalEstimators
{
    /// <summary>
    /// Hutchinson's diagonal estimator (Bekas, Kokiopoulou and Saad 2007, "An estimator for the diagonal of a
    /// matrix", Appl. Numer. Math. 57): diag(A) ≈ (1/m) Σ_j z_j ⊙ A z_j with E[z zᵀ] = I. Unbiased; with Rademacher
    /// probes the variance of entry i is (1/m) Σ_{k≠i} a_ik², so exact for diagonal A.
    /// </summary>
    /// <param name="op">A square operator.</param>
    /// <param name="matVecs">Number of products m, 1 ≤ m ≤ n.</param>
    /// <param name="distribution">Probe distribution (default Rademacher).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">The operator is not square or m is out of range.</exception>
    public static DiagonalEstimate<T> Hutchinson<T>(LinearOperator<T> op, int matVecs, ProbeDistribution distribution = ProbeDistribution.Rademacher, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "Hutchinson diagonal";
        Checks.Square(op, nameof(op), method);
        int n = op.Columns;
        Checks.MatVecs(matVecs, n, 1, 1, method);
        if (matVecs == n) return Exact(op, method);
        var z = new ProbeStream(n, distribution, seed).Next(matVecs);
        var az = Sketch.Apply(op, z, matVecs);
        var d = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int c = 0; c < matVecs; c++) s += z[i * matVecs + c] * az[i * matVecs + c];
            d[i] = s / matVecs;
        }
        return new DiagonalEstimate<T>(DenseKernels.ToTensor<T>(d, n), matVecs, method, false);
    }

    /// <summary>
    /// XDiag (Epperly, Tropp and Webber 2024, "XTrace: making the most of every sample in stochastic trace
    /// estimation", SIAM J. Matrix Anal. Appl. 45, Section 2.3), the exchangeable Diag++: with s = m/2 probes
    /// and Q_i the orthonormal basis of A Ω without column i, diag(A) ≈ (1/s) Σ_i [diag(Q_iQ_iᵀ A) +
    /// ω_i ⊙ (I − Q_iQ_iᵀ) A ω_i ⊘ (ω_i ⊙ ω_i)]. Exact on the captured low-rank range, Hutchinson on the rest.
    /// Uses A Ω and Aᵀ Q (m products; Aᵀ = A for a symmetric operator).
    /// </summary>
    /// <param name="op">A square operator (with a transpose product if not symmetric).</param>
    /// <param name="matVecs">Number of products m: a positive even number with m ≤ n (or m = n for the exact diagonal).</param>
    /// <param name="distribution">Probe distribution (default Rademacher; Gaussian probes are divided by ω², as in the paper's normalised form).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">The operator is not square or m is not even and in range.</exception>
    public static DiagonalEstimate<T> XDiag<T>(LinearOperator<T> op, int matVecs, ProbeDistribution distribution = ProbeDistribution.Rademacher, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "XDiag";
        Checks.Square(op, nameof(op), method);
        int n = op.Columns;
        Checks.MatVecs(matVecs, n, 2, 2, method);
        if (matVecs == n) return Exact(op, method);
        int s = matVecs / 2;
        var omega = new ProbeStream(n, distribution, seed).Next(s);
        var y = Sketch.Apply(op, omega, s);
        var ex = Exchangeable.Build(op.Transpose(), omega, y, n, s);
        int r = ex.Rank;
        var q = ex.Q;
        var zt = ex.Z; // Aᵀ Q, so (Qᵀ A)[a, j] = zt[j, a]
        var d = new double[n];
        // diag(Q Qᵀ A)_j = Σ_a Q[j, a] (AᵀQ)[j, a]
        for (int j = 0; j < n; j++)
        {
            double acc = 0;
            for (int a = 0; a < r; a++) acc += q[j * r + a] * zt[j * r + a];
            d[j] = acc;
        }
        var qs = new double[n];
        var zs = new double[n];
        var c = new double[r];
        for (int i = 0; i < s; i++)
        {
            var si = ex.LeaveOneOut[i];
            if (si is not null)
            {
                // − (1/s) diag(Q s sᵀ Qᵀ A)_j = − (1/s) (Q s)_j (AᵀQ s)_j
                for (int j = 0; j < n; j++)
                {
                    double a1 = 0, a2 = 0;
                    for (int a = 0; a < r; a++) { a1 += q[j * r + a] * si[a]; a2 += zt[j * r + a] * si[a]; }
                    qs[j] = a1; zs[j] = a2;
                }
                for (int j = 0; j < n; j++) d[j] -= qs[j] * zs[j] / s;
            }
            // (I − Q_iQ_iᵀ) A ω_i = y_i − Q (I − s sᵀ) R e_i
            double sr = 0;
            if (si is not null) for (int a = 0; a < r; a++) sr += si[a] * ex.R[a * s + i];
            for (int a = 0; a < r; a++) c[a] = ex.R[a * s + i] - (si is null ? 0 : si[a] * sr);
            for (int j = 0; j < n; j++)
            {
                double qc = 0;
                for (int a = 0; a < r; a++) qc += q[j * r + a] * c[a];
                double wj = omega[j * s + i];
                double comp = y[j * s + i] - qc;
                d[j] += wj * comp / (wj * wj) / s;
            }
        }
        return new DiagonalEstimate<T>(DenseKernels.ToTensor<T>(d, n), s + r, method, false);
    }

    private static DiagonalEstimate<T> Exact<T>(LinearOperator<T> op, string method) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = op.Columns;
        var d = new double[n];
        Sketch.ForIdentityColumns(op, (j0, k, ae) =>
        {
            for (int c = 0; c < k; c++) d[j0 + c] = ae[(j0 + c) * k + c];
        });
        return new DiagonalEstimate<T>(DenseKernels.ToTensor<T>(d, n), n, method, true);
    }
}

/// <summary>Randomized estimators of the squared Frobenius norm.</summary>
public static class FrobeniusNormEstimators
{
    /// <summary>
    /// Hutchinson's estimator of the squared Frobenius norm: ‖A‖_F² = tr(AᵀA) = E‖A z‖² for E[z zᵀ] = I, estimated by
    /// (1/m) Σ_j ‖A z_j‖² with m products of A (not of AᵀA); any rectangular operator. The standard error is the
    /// sample standard deviation over √m. m may not exceed the number of columns n; m = n gives Σ_j ‖A e_j‖² exactly.
    /// </summary>
    /// <param name="op">Any operator.</param>
    /// <param name="matVecs">Number of products m, 1 ≤ m ≤ Columns.</param>
    /// <param name="distribution">Probe distribution (default Rademacher).</param>
    /// <param name="seed">Seed of the probes.</param>
    /// <exception cref="ArgumentException">m is out of range.</exception>
    public static ScalarEstimate Hutchinson<T>(LinearOperator<T> op, int matVecs, ProbeDistribution distribution = ProbeDistribution.Rademacher, int seed = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const string method = "Hutchinson squared Frobenius norm";
        ArgumentNullException.ThrowIfNull(op);
        int n = op.Columns, rows = op.Rows;
        Checks.MatVecs(matVecs, n, 1, 1, method);
        if (matVecs == n)
        {
            double sum = 0;
            Sketch.ForIdentityColumns(op, (_, _, ae) => { foreach (var v in ae) sum += v * v; });
            return new ScalarEstimate(sum, 0, n, method, true);
        }
        var z = new ProbeStream(n, distribution, seed).Next(matVecs);
        var az = Sketch.Apply(op, z, matVecs);
        var samples = Sketch.ColumnDots(az, az, rows, matVecs);
        var (mean, se) = Sketch.MeanAndError(samples);
        return new ScalarEstimate(mean, se, matVecs, method, false);
    }
}
