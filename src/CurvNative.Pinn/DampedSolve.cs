using CurvNative.Native;

namespace CurvNative.Pinn;

/// <summary>How a damped symmetric system was solved.</summary>
public enum DampedSolveMethod
{
    /// <summary>Cholesky factorisation of A + lambda I (the normal path).</summary>
    Cholesky,
    /// <summary>A + lambda I was not numerically positive definite: the pseudo-inverse from the symmetric
    /// eigendecomposition, eigenvalues below n eps max|mu| dropped (a least-squares solution).</summary>
    Eigen,
}

/// <summary>Solves (A + lambda I) X = B for a symmetric positive semi-definite A given as a full row-major matrix.</summary>
internal static class DampedSolve
{
    /// <summary>
    /// Overwrites <paramref name="rhs"/> [n, k] with (A + lambda I)^+ rhs. <paramref name="a"/> (full, symmetric) is
    /// destroyed. Cholesky first; if A + lambda I is not numerically positive definite (lambda small against A's
    /// rounding), the eigendecomposition's pseudo-inverse.
    /// </summary>
    public static DampedSolveMethod Solve(double[] a, int n, double lambda, double[] rhs, int k = 1)
    {
        // No copy of A for the fallback (at N = 3,500 it would be 98 MB per step): the Cholesky factorisation reads
        // and overwrites only the lower triangle, so the strict upper triangle still holds A, and the diagonal is kept.
        var diagonal = new double[n];
        for (int i = 0; i < n; i++) diagonal[i] = a[(long)i * n + i] += lambda;
        if (Lapack.TryCholesky<double>(n, a) == 0)
        {
            Lapack.CholeskySolve<double>(n, k, a, rhs);
            return DampedSolveMethod.Cholesky;
        }
        for (int i = 0; i < n; i++) a[(long)i * n + i] = diagonal[i];
        MirrorUpper(a, n);
        var copy = a;
        var mu = new double[n];
        Lapack.SymmetricEigen<double>(n, copy, mu); // row i of copy: the eigenvector of mu[i]
        double max = mu.Length == 0 ? 0 : mu.Max(Math.Abs), cut = n * 2.3e-16 * max;
        var coefficients = new double[(long)n * k];
        // c = V^T rhs, scaled by 1/mu, then rhs = V c.
        Blas.Gemm(false, false, n, k, n, 1.0, copy, n, rhs, k, 0.0, coefficients, k);
        for (int i = 0; i < n; i++)
        {
            double s = mu[i] > cut ? 1.0 / mu[i] : 0.0;
            for (int c = 0; c < k; c++) coefficients[(long)i * k + c] *= s;
        }
        Blas.Gemm(true, false, n, k, n, 1.0, copy, n, coefficients, k, 0.0, rhs, k);
        return DampedSolveMethod.Eigen;
    }

    /// <summary>Copies the upper triangle of a row-major n x n matrix onto its lower triangle, in tiles (cache-friendly).</summary>
    public static void MirrorUpper(double[] a, int n)
    {
        const int tile = 64;
        for (int i0 = 0; i0 < n; i0 += tile)
            for (int j0 = i0; j0 < n; j0 += tile)
            {
                int i1 = Math.Min(i0 + tile, n), j1 = Math.Min(j0 + tile, n);
                for (int i = i0; i < i1; i++)
                    for (int j = Math.Max(j0, i + 1); j < j1; j++)
                        a[(long)j * n + i] = a[(long)i * n + j];
            }
    }
}
